//! Production mode: `--config frame.yaml`, real Entra tokens.

use std::net::SocketAddr;

use anyhow::Context;
use axe_auth::{EntraConfig, ProtectedResource, Validator};
use axe_isolation::guard;
use axe_tenant::CustomerRegistry;
use sqlx::postgres::PgPoolOptions;

use crate::app::{self, Data, Front};
use crate::config::Config;

/// Everything production mode started.
pub(crate) struct Prod {
    pub(crate) data: Data,
    pub(crate) endpoint: axe_mcp::McpEndpoint,
    pub(crate) listen: SocketAddr,
    pub(crate) grace: std::time::Duration,
    _reload: axe_tenant::WatchHandle,
}

/// Connects, provisions, migrates and builds the endpoint from `config`.
pub(crate) async fn start(config: Config, listen: Option<SocketAddr>) -> anyhow::Result<Prod> {
    let registry =
        CustomerRegistry::load(&config.customers_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    // customers.yaml is re-read when it changes (the last good one stays on error).
    let reload = registry.watch(std::time::Duration::from_secs(5));
    let runtime = guard::install(PgPoolOptions::new().max_connections(config.max_connections))
        .connect_with(config.database.clone())
        .await
        .context("cannot connect with database.url")?;
    let owner = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(config.owner_database.clone())
        .await
        .context("cannot connect with database.owner_url")?;
    let admin_scope = config.admin_scope();
    let data = app::open_data(owner, runtime, None, config.master_key, &registry).await?;

    let mut entra = EntraConfig::builder()
        .authority(config.authority.clone())
        .allowed_tenants(registry.clone())
        .audience(config.client_id.clone())
        .audience(config.app_id_uri.clone());
    if config.authority != axe_auth::DEFAULT_AUTHORITY {
        entra = entra.v1_issuer_base(format!("{}/sts", config.authority));
    }
    let validator = Validator::new(entra.build()?);
    let mut resource = ProtectedResource::single(
        &format!("{}{}", config.public_url, crate::config::MCP_PATH),
        config.tenant,
    )
    .authority(config.authority.clone())
    .resource_name("frame");
    for scope in &config.scopes {
        resource = resource.scope(scope.clone());
    }
    let resource = resource.build()?;
    let endpoint = app::endpoint(
        &data,
        Front {
            validator,
            resource,
            registry,
            loopback_hosts: false,
            allowed_hosts: vec![config.public_host.clone()],
            allowed_origins: config.allowed_origins.clone(),
            admin_scope,
        },
    )?;
    tracing::info!(customer = %config.customer, public_url = %config.public_url, "production mode");
    Ok(Prod {
        data,
        endpoint,
        listen: listen.unwrap_or(config.listen),
        grace: config.shutdown_grace,
        _reload: reload,
    })
}

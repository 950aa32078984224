//! The tools an endpoint serves: [`Tool`]s with their generated schemas, erased to one type so
//! they can live in one map, and the per-principal view `tools/list` shows.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axe_auth::Principal;
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

use crate::context::ToolCtx;
use crate::error::BuildError;
use crate::tool::{Tool, ToolError, ToolSpec, valid_name};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tool with its parsing and serialization erased.
trait ErasedTool: Send + Sync {
    fn call<'a>(
        &'a self,
        ctx: &'a mut ToolCtx,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

struct Erased<T>(T);

impl<T: Tool> ErasedTool for Erased<T> {
    fn call<'a>(
        &'a self,
        ctx: &'a mut ToolCtx,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        Box::pin(async move {
            let input: T::Input = parse_args(args)?;
            let output = self.0.call(ctx, input).await?;
            serde_json::to_value(output).map_err(ToolError::internal)
        })
    }
}

/// Parses a call's arguments; the message names the field and the problem (serde's text,
/// which quotes at most the offending value back to the caller who sent it).
pub(crate) fn parse_args<I: serde::de::DeserializeOwned>(args: Value) -> Result<I, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::invalid_input(e.to_string()))
}

/// One registered tool.
pub(crate) struct Entry {
    pub(crate) spec: ToolSpec,
    pub(crate) input_schema: Arc<Map<String, Value>>,
    pub(crate) output_schema: Arc<Map<String, Value>>,
    tool: Box<dyn ErasedTool>,
}

impl Entry {
    pub(crate) fn call<'a>(
        &'a self,
        ctx: &'a mut ToolCtx,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        self.tool.call(ctx, args)
    }

    /// The MCP description of the tool.
    pub(crate) fn descriptor(&self) -> rmcp::model::Tool {
        let a = self.spec.annotations;
        let annotations = rmcp::model::ToolAnnotations::new()
            .read_only(a.read_only)
            .destructive(a.destructive)
            .idempotent(a.idempotent)
            .open_world(a.open_world);
        let mut tool = rmcp::model::Tool::new(
            self.spec.name.clone(),
            self.spec.description.clone(),
            self.input_schema.clone(),
        )
        .with_raw_output_schema(self.output_schema.clone())
        .with_annotations(annotations);
        if let Some(title) = &self.spec.title {
            tool = tool.with_title(title.clone());
        }
        tool
    }
}

/// The tools of an endpoint, by name.
#[derive(Default)]
pub(crate) struct Registry {
    tools: BTreeMap<String, Entry>,
}

impl Registry {
    /// Adds `tool`, refusing a bad or duplicate name and schemas that are not objects.
    pub(crate) fn add<T: Tool>(&mut self, tool: T) -> Result<(), BuildError> {
        let spec = tool.spec();
        if !valid_name(&spec.name) {
            return Err(BuildError::ToolName(spec.name.to_string()));
        }
        if self.tools.contains_key(spec.name()) {
            return Err(BuildError::DuplicateTool(spec.name.to_string()));
        }
        let input_schema = object_schema::<T::Input>(&spec, "input")?;
        let output_schema = object_schema::<T::Output>(&spec, "output")?;
        self.tools.insert(
            spec.name.to_string(),
            Entry {
                spec,
                input_schema,
                output_schema,
                tool: Box::new(Erased(tool)),
            },
        );
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.tools.get(name)
    }

    /// The tools `principal` may call, in name order.
    pub(crate) fn visible_to<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> impl Iterator<Item = &'a Entry> {
        self.tools.values().filter(|e| e.spec.allows(principal))
    }

    /// Name → spec of every tool, for the HTTP scope gate.
    pub(crate) fn specs(&self) -> std::collections::HashMap<String, ToolSpec> {
        self.tools
            .iter()
            .map(|(name, e)| (name.clone(), e.spec.clone()))
            .collect()
    }
}

/// The JSON Schema (2020-12, as MCP asks) of `T`, which must describe an object.
fn object_schema<T: JsonSchema>(
    spec: &ToolSpec,
    which: &'static str,
) -> Result<Arc<Map<String, Value>>, BuildError> {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let value = serde_json::to_value(schema).map_err(|_| BuildError::Schema {
        tool: spec.name.to_string(),
        which,
    })?;
    match value {
        Value::Object(map) if map.get("type").and_then(Value::as_str) == Some("object") => {
            Ok(Arc::new(map))
        }
        _ => Err(BuildError::Schema {
            tool: spec.name.to_string(),
            which,
        }),
    }
}

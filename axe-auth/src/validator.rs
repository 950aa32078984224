//! [`Validator`]: from a bearer token to a [`Principal`], or the rule that
//! refused it.
//!
//! The order of the checks matters:
//! 1. size, shape, header (`alg` pinned to RS256, `kid` required, no
//!    Graph `nonce`, no `crit`): nothing is fetched for a malformed token;
//! 2. `ver`, `tid` (a GUID, on the allow-list, not the personal-accounts
//!    tenant unless enabled) and `iss` (exactly the issuer `ver` and `tid`
//!    require): only allowed tenants' keys are ever fetched;
//! 3. the key by `kid` from that issuer's JWKS, whose `issuer` member must
//!    name the token's `iss`; then the RS256 signature;
//! 4. only then the signed claims: `exp`, `nbf`, `aud`, `scp`/`roles`, `oid`,
//!    the client id.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::config::{EntraConfig, RequiredPermissions};
use crate::error::Error;
use crate::jwks::JwksCache;
use crate::{Principal, TenantId, TokenVersion};

/// Validates Entra access tokens. Cheap to clone; share one per process.
///
/// ```no_run
/// use axe_auth::{EntraConfig, Validator};
/// # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let validator = Validator::new(
///     EntraConfig::builder()
///         .tenant("122fb574-0000-4000-8000-00000000a11c".parse()?)
///         .audience("api://frame.axelabs.ai")
///         .build()?,
/// );
/// let principal = validator.validate(token).await?;
/// println!("{} in {}", principal.object_id(), principal.tenant_id());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Validator {
    config: Arc<EntraConfig>,
    keys: JwksCache,
}

impl Validator {
    /// A validator for `config`, with an empty key cache.
    pub fn new(config: EntraConfig) -> Self {
        Validator {
            keys: JwksCache::new(config.clone()),
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EntraConfig {
        &self.config
    }

    /// The key cache (to prefetch keys or report readiness).
    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// Validates `token` (the credential after `Bearer `).
    pub async fn validate(&self, token: &str) -> Result<Principal, Error> {
        let cfg = &*self.config;
        if token.len() > cfg.max_token_bytes {
            return Err(Error::TooLarge {
                size: token.len(),
                limit: cfg.max_token_bytes,
            });
        }
        let parts = split(token)?;
        let header = decode_json(parts.header, "header")?;
        check_header(&header)?;
        let kid = match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => kid,
            _ => return Err(Error::MissingKid),
        };
        let claims = decode_json(parts.payload, "payload")?;

        let version = match claims.get("ver") {
            Some(Value::String(v)) if v == "1.0" => TokenVersion::V1,
            Some(Value::String(v)) if v == "2.0" => TokenVersion::V2,
            Some(Value::String(v)) => return Err(Error::UnsupportedVersion { got: v.clone() }),
            _ => return Err(Error::MissingClaim("ver")),
        };
        let tid = match claims.get("tid") {
            Some(Value::String(t)) => TenantId::parse(t).map_err(|_| Error::InvalidTenantId)?,
            _ => return Err(Error::MissingClaim("tid")),
        };
        if tid.is_personal_accounts() {
            if !cfg.allow_personal_accounts {
                return Err(Error::PersonalAccount);
            }
        } else if !cfg.tenants.is_allowed(&tid) {
            return Err(Error::TenantNotAllowed { tenant_id: tid });
        }
        let iss = str_claim(&claims, "iss")?;
        let expected_iss = cfg.issuer(version, &tid);
        if iss != expected_iss {
            return Err(Error::IssuerMismatch {
                expected: expected_iss,
                got: iss.to_owned(),
            });
        }

        let key = self.keys.key(tid, version, kid).await?;
        if !key.signs_for(iss, &tid) {
            return Err(Error::KeyIssuerMismatch {
                key_issuer: key.issuer.clone(),
                token_issuer: iss.to_owned(),
            });
        }
        let verified = jsonwebtoken::crypto::verify(
            parts.signature,
            parts.signed.as_bytes(),
            &key.key,
            jsonwebtoken::Algorithm::RS256,
        )
        .unwrap_or(false);
        if !verified {
            return Err(Error::InvalidSignature);
        }

        // From here on the claims are signed by the tenant.
        let now = cfg.clock.now();
        let exp = time_claim(&claims, "exp")?.ok_or(Error::MissingClaim("exp"))?;
        if now > exp + cfg.leeway {
            return Err(Error::Expired { now, exp });
        }
        if let Some(nbf) = time_claim(&claims, "nbf")?
            && now + cfg.leeway < nbf
        {
            return Err(Error::NotYetValid { now, nbf });
        }
        let audience = check_audience(&claims, &cfg.audiences)?;
        let scopes = match claims.get("scp") {
            None => Vec::new(),
            Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
            Some(_) => return Err(Error::MissingClaim("scp")),
        };
        let roles = match claims.get("roles") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|r| r.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(Error::MissingClaim("roles"))?,
            Some(_) => return Err(Error::MissingClaim("roles")),
        };
        check_permissions(cfg.permissions, &scopes, &roles)?;
        let object_id = str_claim(&claims, "oid")?.to_owned();
        let subject = str_claim(&claims, "sub")?.to_owned();
        let client_id = match version {
            TokenVersion::V2 => str_claim(&claims, "azp")?,
            TokenVersion::V1 => str_claim(&claims, "appid")?,
        }
        .to_owned();

        let opt_str = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(Principal {
            tenant_id: tid,
            object_id,
            subject,
            token_version: version,
            client_id,
            audience,
            scopes,
            roles,
            name: opt_str("name"),
            preferred_username: opt_str("preferred_username"),
            upn: opt_str("upn"),
            email: opt_str("email"),
            email_domain_verified: claims.get("xms_edov").and_then(loose_bool),
            email_verified: claims.get("email_verified").and_then(loose_bool),
            expires_at: exp,
            claims: Arc::new(claims),
        })
    }
}

struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    /// `header.payload`, the signed bytes.
    signed: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, Error> {
    let mut it = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(Error::Malformed("not three dot-separated segments"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(Error::Malformed("empty segment"));
    }
    Ok(Parts {
        header,
        payload,
        signature,
        signed: &token[..header.len() + 1 + payload.len()],
    })
}

fn decode_json(segment: &str, what: &'static str) -> Result<Map<String, Value>, Error> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| {
        Error::Malformed(if what == "header" {
            "header is not base64url"
        } else {
            "payload is not base64url"
        })
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::Malformed(if what == "header" {
            "header is not a JSON object"
        } else {
            "payload is not a JSON object"
        })),
    }
}

fn check_header(header: &Map<String, Value>) -> Result<(), Error> {
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(alg)) => return Err(Error::AlgorithmNotAllowed { got: alg.clone() }),
        Some(other) => {
            return Err(Error::AlgorithmNotAllowed {
                got: other.to_string(),
            });
        }
        None => return Err(Error::AlgorithmNotAllowed { got: String::new() }),
    }
    if header.contains_key("nonce") {
        return Err(Error::GraphToken);
    }
    // RFC 7515 §4.1.11: an extension we do not understand must be refused.
    if header.contains_key("crit") {
        return Err(Error::Malformed("unsupported critical header extension"));
    }
    Ok(())
}

fn str_claim<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, Error> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(Error::MissingClaim(name)),
    }
}

fn time_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<SystemTime>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let secs = n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .ok_or(Error::MissingClaim(name))?;
            // Far-future values (beyond year ~2500) are refused rather than
            // overflowing SystemTime arithmetic.
            if secs > 17_000_000_000 {
                return Err(Error::MissingClaim(name));
            }
            Ok(Some(UNIX_EPOCH + Duration::from_secs(secs)))
        }
        Some(_) => Err(Error::MissingClaim(name)),
    }
}

fn check_audience(claims: &Map<String, Value>, accepted: &[String]) -> Result<String, Error> {
    let got: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(Error::MissingClaim("aud")),
    };
    got.iter()
        .find(|a| accepted.iter().any(|x| x == *a))
        .map(|a| (*a).to_owned())
        .ok_or_else(|| Error::AudienceMismatch {
            got: got.iter().map(|s| (*s).to_owned()).collect(),
        })
}

fn check_permissions(
    required: RequiredPermissions,
    scopes: &[String],
    roles: &[String],
) -> Result<(), Error> {
    let ok = match required {
        RequiredPermissions::ScopesOrRoles => !scopes.is_empty() || !roles.is_empty(),
        RequiredPermissions::Scopes => !scopes.is_empty(),
        RequiredPermissions::Roles => !roles.is_empty(),
        RequiredPermissions::None => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::NoPermissions {
            expected: match required {
                RequiredPermissions::Scopes => "scp",
                RequiredPermissions::Roles => "roles",
                _ => "scp or roles",
            },
        })
    }
}

/// Entra emits some boolean optional claims as `true`, others as `"1"`.
fn loose_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "1" || s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s == "0" || s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_u64().map(|n| n != 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_requires_exactly_three_non_empty_segments() {
        assert!(split("a.b.c").is_ok());
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "a..c",
            ".b.c",
            "a.b.",
            "a.b.c.d.e",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
        assert_eq!(split("ab.cd.ef").unwrap().signed, "ab.cd");
    }

    #[test]
    fn header_rules() {
        let h = |v: Value| v.as_object().unwrap().clone();
        assert!(check_header(&h(serde_json::json!({"alg":"RS256","kid":"k"}))).is_ok());
        for alg in ["none", "HS256", "ES256", "PS256", "rs256", "RS512"] {
            assert!(matches!(
                check_header(&h(serde_json::json!({"alg": alg}))),
                Err(Error::AlgorithmNotAllowed { .. })
            ));
        }
        assert!(matches!(
            check_header(&h(serde_json::json!({"alg": ["RS256"]}))),
            Err(Error::AlgorithmNotAllowed { .. })
        ));
        assert!(matches!(
            check_header(&h(serde_json::json!({"alg":"RS256","nonce":"x"}))),
            Err(Error::GraphToken)
        ));
        assert!(matches!(
            check_header(&h(serde_json::json!({"alg":"RS256","crit":["b64"]}))),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn loose_bools() {
        assert_eq!(loose_bool(&Value::Bool(true)), Some(true));
        assert_eq!(loose_bool(&Value::String("1".into())), Some(true));
        assert_eq!(loose_bool(&Value::String("false".into())), Some(false));
        assert_eq!(loose_bool(&Value::String("yes".into())), None);
        assert_eq!(loose_bool(&serde_json::json!(0)), Some(false));
    }

    #[test]
    fn time_claims_refuse_strings_and_negatives() {
        let c = |v: Value| {
            let mut m = Map::new();
            m.insert("exp".into(), v);
            m
        };
        assert!(time_claim(&c(serde_json::json!("123")), "exp").is_err());
        assert!(time_claim(&c(serde_json::json!(-5)), "exp").is_err());
        assert!(time_claim(&c(serde_json::json!(1e300)), "exp").is_err());
        assert!(
            time_claim(&c(serde_json::json!(1_700_000_000)), "exp")
                .unwrap()
                .is_some()
        );
        assert!(time_claim(&Map::new(), "exp").unwrap().is_none());
    }
}

//! Reading a `WWW-Authenticate: Bearer …` challenge: only the `resource_metadata` parameter
//! the swap probe needs (RFC 9728 §5.1). Hand-written: one quoted parameter, no crate of the
//! dependency tree parses challenges.

/// The `resource_metadata` URL of a `WWW-Authenticate: Bearer …` challenge.
pub(crate) fn resource_metadata(challenge: &str) -> Option<&str> {
    let start = challenge.find("resource_metadata=\"")? + "resource_metadata=\"".len();
    let rest = &challenge[start..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::resource_metadata;

    #[test]
    fn finds_resource_metadata_in_a_challenge() {
        let c = r#"Bearer resource_metadata="https://axe.axelabs.ai/.well-known/oauth-protected-resource/frame/mcp", scope="api://x/mcp.access""#;
        assert_eq!(
            resource_metadata(c),
            Some("https://axe.axelabs.ai/.well-known/oauth-protected-resource/frame/mcp")
        );
        assert_eq!(resource_metadata("Bearer realm=\"x\""), None);
        assert_eq!(
            resource_metadata("Bearer resource_metadata=\"unterminated"),
            None
        );
        assert_eq!(resource_metadata(""), None);
    }
}

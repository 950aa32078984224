//! Input checks shared by the tools. Each returns [`ToolError::InvalidInput`] with a message
//! that names the argument and the rule, and never echoes a long or hostile value back.

use axe_mcp::ToolError;

/// Longest record id, in bytes.
pub(crate) const MAX_ID_LEN: usize = 128;
/// Largest record body, as compact JSON, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Deepest nesting of a record body.
pub(crate) const MAX_BODY_DEPTH: usize = 32;
/// Longest contact name, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Longest email address, in bytes (RFC 5321's path limit).
pub(crate) const MAX_EMAIL_LEN: usize = 254;
/// Longest phone number, in characters.
pub(crate) const MAX_PHONE_CHARS: usize = 32;

/// A record id: 1–128 of `A-Z a-z 0-9 _ . : -` (the same rule as the table's CHECK).
pub(crate) fn record_id(arg: &str, id: &str) -> Result<(), ToolError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(ToolError::invalid_input(format!(
            "{arg} must be 1 to {MAX_ID_LEN} characters"
        )));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        return Err(ToolError::invalid_input(format!(
            "{arg} may only hold letters, digits and _ . : -"
        )));
    }
    Ok(())
}

/// A record body: any JSON value up to [`MAX_BODY_BYTES`] and [`MAX_BODY_DEPTH`]; returns
/// its compact size.
pub(crate) fn record_body(body: &serde_json::Value) -> Result<usize, ToolError> {
    if depth(body) > MAX_BODY_DEPTH {
        return Err(ToolError::invalid_input(format!(
            "body is nested deeper than {MAX_BODY_DEPTH} levels"
        )));
    }
    let size = serde_json::to_vec(body)
        .map_err(|_| ToolError::invalid_input("body is not serializable JSON"))?
        .len();
    if size > MAX_BODY_BYTES {
        return Err(ToolError::invalid_input(format!(
            "body is {size} bytes of JSON; the limit is {MAX_BODY_BYTES}"
        )));
    }
    Ok(size)
}

fn depth(value: &serde_json::Value) -> usize {
    // Iterative, so a hostile document cannot overflow the stack here.
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        if d > MAX_BODY_DEPTH {
            break;
        }
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// A contact name: 1–200 characters, no control characters, not only spaces.
pub(crate) fn name(name: &str) -> Result<(), ToolError> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_NAME_CHARS {
        return Err(ToolError::invalid_input(format!(
            "name must be 1 to {MAX_NAME_CHARS} characters and not blank"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ToolError::invalid_input(
            "name must not contain control characters",
        ));
    }
    Ok(())
}

/// An email address: one `@`, a non-empty local part of at most 64 bytes without spaces or
/// control characters, a domain of dot-separated labels, at most 254 bytes in all.
pub(crate) fn email(email: &str) -> Result<(), ToolError> {
    let bad = |why: &str| ToolError::invalid_input(format!("email {why}"));
    if email.len() > MAX_EMAIL_LEN {
        return Err(bad("is longer than 254 bytes"));
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("must contain exactly one @"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(bad("needs a local part of 1 to 64 bytes before the @"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    let labels_ok = domain.split('.').count() >= 2
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if !labels_ok {
        return Err(bad("needs a domain such as example.com after the @"));
    }
    Ok(())
}

/// A phone number: up to 32 characters of digits, spaces and `+ - ( ) .`, with 3 or more
/// digits.
pub(crate) fn phone(phone: &str) -> Result<(), ToolError> {
    let ok = phone.chars().count() <= MAX_PHONE_CHARS
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')' | '.'))
        && phone.chars().filter(char::is_ascii_digit).count() >= 3;
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid_input(format!(
            "phone must be up to {MAX_PHONE_CHARS} characters of digits, spaces and + - ( ) ., with at least 3 digits"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn record_ids() {
        assert!(record_id("id", "invoice-2026:07.a_b").is_ok());
        for bad in [
            "",
            "has space",
            "semi;colon",
            "slash/x",
            "quote'",
            "é",
            "a\0b",
        ] {
            assert!(record_id("id", bad).is_err(), "{bad:?}");
        }
        assert!(record_id("id", &"x".repeat(128)).is_ok());
        assert!(record_id("id", &"x".repeat(129)).is_err());
    }

    #[test]
    fn bodies() {
        assert!(record_body(&json!({"a": [1, 2, {"b": null}]})).is_ok());
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(record_body(&deep).is_err());
        let big = json!({ "x": "y".repeat(MAX_BODY_BYTES) });
        assert!(record_body(&big).is_err());
    }

    #[test]
    fn emails() {
        assert!(email("kim@realchoice.co.kr").is_ok());
        assert!(email("a.b+tag@axellc.com").is_ok());
        for bad in [
            "",
            "no-at",
            "two@@axellc.com",
            "a@b@axellc.com",
            "@axellc.com",
            "kim@",
            "kim@localhost",
            "kim@-bad.com",
            "kim@axellc..com",
            "kim lee@axellc.com",
            "kim\n@axellc.com",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(email(&format!("{}@axellc.com", "a".repeat(65))).is_err());
        assert!(email(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    #[test]
    fn names_and_phones() {
        assert!(name("김 민수").is_ok());
        assert!(name("   ").is_err());
        assert!(name("a\u{7}b").is_err());
        assert!(name(&"n".repeat(201)).is_err());
        assert!(phone("+82 (10) 1234-5678").is_ok());
        assert!(phone("12").is_err());
        assert!(phone("call me").is_err());
        assert!(phone(&"1".repeat(33)).is_err());
    }
}

//! A topic's broker subject: `<prefix>.<topic>`, the topic in one subject token. NATS reserves
//! `.` (token separator), `*` and `>` (wildcards) and whitespace; those bytes, `%` itself and
//! anything outside printable ASCII are written `%XX`, so every topic has one subject and no
//! topic can subscribe to another's (a topic `a.*` never matches `a.b`).

/// Checks a prefix: one or more tokens of printable ASCII without wildcards or whitespace.
///
/// # Errors
/// A message naming what is wrong.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("the subject prefix is empty".into());
    }
    for token in prefix.split('.') {
        if token.is_empty() {
            return Err(format!(
                "subject prefix {prefix:?}: an empty token (`..` or a `.` at an end)"
            ));
        }
        if token == "*" || token == ">" || token.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!(
                "subject prefix {prefix:?}: wildcards and whitespace are not allowed"
            ));
        }
    }
    Ok(())
}

/// The subject `topic` is published and subscribed on.
pub(crate) fn subject(prefix: &str, topic: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + topic.len());
    out.push_str(prefix);
    out.push('.');
    for &b in topic.as_bytes() {
        let plain = b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>' | b'%');
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if topic.is_empty() {
        out.push('%'); // an empty topic still makes a token
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_escaped_into_one_token() {
        assert_eq!(subject("ringws", "prices"), "ringws.prices");
        assert_eq!(subject("app.ws", "room/7"), "app.ws.room/7");
        assert_eq!(subject("ringws", "a.b"), "ringws.a%2Eb");
        assert_eq!(subject("ringws", "a.*"), "ringws.a%2E%2A");
        assert_eq!(subject("ringws", ">"), "ringws.%3E");
        assert_eq!(subject("ringws", "two words"), "ringws.two%20words");
        assert_eq!(subject("ringws", "100%"), "ringws.100%25");
        assert_eq!(subject("ringws", "é"), "ringws.%C3%A9");
        assert_eq!(subject("ringws", ""), "ringws.%");
        // Distinct topics, distinct subjects.
        assert_ne!(subject("p", "a.b"), subject("p", "a%2Eb"));
    }

    #[test]
    fn prefixes_are_checked() {
        assert!(check_prefix("ringws").is_ok());
        assert!(check_prefix("game.eu-1").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}

//! An error and its sources as one line, for logs and error bodies.

/// An error and its sources as one line, repeated messages dropped
/// (`client error (Connect): tcp connect error: Connection refused (os error 111)`).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !text.is_empty() && parts.last().is_none_or(|p| !p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

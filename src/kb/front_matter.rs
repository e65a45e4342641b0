//! The front matter block at the top of a document: `---`, `key: value` lines, `---`.
//! A small YAML subset (scalars, optional quotes, `[a, b]` lists) is all the format needs, and a
//! full YAML parser would accept far more than we can give meaning to.

/// Parsed front matter fields. Unknown keys are kept out: a typo should not silently become data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontMatter {
    pub id: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub topics: Vec<String>,
    pub updated: Option<String>,
    pub product_id: Option<String>,
}

impl FrontMatter {
    /// Splits `text` into its front matter and the body after it. Text with no front matter gives
    /// defaults and the whole text.
    pub fn split(text: &str) -> Result<(FrontMatter, &str), String> {
        let trimmed = text.trim_start_matches('\u{feff}');
        let Some(rest) = trimmed
            .strip_prefix("---")
            .filter(|r| r.starts_with('\n') || r.starts_with("\r\n"))
        else {
            return Ok((FrontMatter::default(), trimmed));
        };
        let end = rest.find("\n---").ok_or("no closing `---` line")?;
        let block = &rest[..end];
        let after = &rest[end + 4..];
        let body = after.split_once('\n').map(|(_, b)| b).unwrap_or("");
        Ok((Self::parse(block)?, body))
    }

    /// Parses the lines between the `---` markers.
    pub fn parse(block: &str) -> Result<FrontMatter, String> {
        let mut fm = FrontMatter::default();
        for (n, line) in block.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| format!("line {}: expected `key: value`", n + 1))?;
            let value = value.trim();
            match key.trim() {
                "id" => fm.id = Some(unquote(value)),
                "title" => fm.title = Some(unquote(value)),
                "url" => fm.url = Some(unquote(value)),
                "updated" => fm.updated = Some(unquote(value)),
                "product_id" => fm.product_id = Some(unquote(value)),
                "topics" | "tags" => fm.topics = parse_list(value),
                other => return Err(format!("line {}: unknown key {other:?}", n + 1)),
            }
        }
        Ok(fm)
    }
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

/// `[a, b]` or `a, b`.
pub(crate) fn parse_list(v: &str) -> Vec<String> {
    let v = v.trim().trim_start_matches('[').trim_end_matches(']');
    v.split(',')
        .map(unquote)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_quotes_and_lists() {
        let text = "---\nid: returns\ntitle: \"Returns: how\"\ntopics: [return_policy, returns]\nupdated: 2026-10-01\n---\n# Body\n";
        let (fm, body) = FrontMatter::split(text).unwrap();
        assert_eq!(fm.id.as_deref(), Some("returns"));
        assert_eq!(fm.title.as_deref(), Some("Returns: how"));
        assert_eq!(fm.topics, vec!["return_policy", "returns"]);
        assert_eq!(body, "# Body\n");
    }

    #[test]
    fn text_without_front_matter_is_all_body() {
        let (fm, body) = FrontMatter::split("# Title\nhello").unwrap();
        assert_eq!(fm, FrontMatter::default());
        assert_eq!(body, "# Title\nhello");
    }

    #[test]
    fn unknown_keys_and_unclosed_blocks_are_errors() {
        assert!(FrontMatter::split("---\nidd: x\n---\n")
            .unwrap_err()
            .contains("unknown key"));
        assert!(FrontMatter::split("---\nid: x\n")
            .unwrap_err()
            .contains("closing"));
    }
}

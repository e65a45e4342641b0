//! Raw RFC 5322 bytes → [`InboundMail`]: the headers threading and identity need, the body as
//! plain text (an HTML-only mail is converted; charsets and transfer encodings are decoded by
//! mail-parser), attachments noted by name, type and size (never opened), what the receiving
//! server said of the sender (Authentication-Results), and any sign that the mail was sent by a
//! machine and must not be answered.

use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use serde::Serialize;

/// Message ids kept from `References` (the thread's root and the nearest ancestors): threading
/// needs only those, and a header of 50,000 ids must not cost a lookup each.
pub const MAX_REFERENCES: usize = 50;

/// HTML read from one body part. A customer's question is at the top and the answer path keeps
/// 4,000 characters of it, so what lies beyond is quoted history or padding.
pub const MAX_HTML_BYTES: usize = 512 * 1024;

/// Deeper element nesting than this is not a real mail: such HTML is converted by
/// [`html_to_text_linear`] instead of html2text, whose cost grows faster than linearly with
/// depth (16k nested divs took 1.3 s, 100k over a minute).
pub const MAX_HTML_DEPTH: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not an email message (no headers could be read)")]
    NotMime,
}

/// A customer's mail as the email channel reads it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InboundMail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    /// Oldest first, as the header lists them.
    pub references: Vec<String>,
    /// The From address, lower-cased.
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub subject: String,
    /// The whole body as plain text, quotes and signature included (see `strip`).
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// Each Authentication-Results header, top (the last server to receive it) first.
    pub auth_results: Vec<AuthResult>,
    /// Why this mail must not be answered (an auto-reply, a bounce, list mail), if it must not.
    pub loop_signal: Option<String>,
}

/// An attachment, noted for the person who may read the conversation; its content is not used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub content_type: String,
    pub size: usize,
}

/// One Authentication-Results header: who wrote it, and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthResult {
    /// The authserv-id, lower-cased: the name of the server that checked (its first field).
    pub authserv_id: String,
    pub auth: Auth,
}

impl InboundMail {
    /// What the store's own receiving server says of the sender. With `authserv_id` set
    /// (`email.authserv_id`), only headers bearing that id count: anyone can write an
    /// Authentication-Results header into the mail they send, and only the store's server is
    /// known to strip forged copies of its own (RFC 8601, 5). Empty: every header counts, and
    /// any failure in any of them wins (a forged "pass" can then hide nothing that failed).
    pub fn auth(&self, authserv_id: &str) -> Auth {
        let counted = self.auth_results.iter().filter(|r| {
            authserv_id.is_empty() || r.authserv_id.eq_ignore_ascii_case(authserv_id.trim())
        });
        counted.fold(Auth::None, |acc, r| match (acc, r.auth) {
            (Auth::Fail, _) | (_, Auth::Fail) => Auth::Fail,
            (Auth::Pass, _) | (_, Auth::Pass) => Auth::Pass,
            _ => Auth::None,
        })
    }
}

/// What the receiving mail server's Authentication-Results say of the sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// DMARC, DKIM or SPF passed and none failed.
    Pass,
    /// DMARC, DKIM or SPF failed (or SPF soft-failed): the From may be forged.
    Fail,
    /// No results: the store's server adds none (nothing to go on either way).
    #[default]
    None,
}

/// Parses one message.
pub fn parse(raw: &[u8]) -> Result<InboundMail, ParseError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotMime)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NotMime);
    }
    let from = msg.from().and_then(|a| a.first());
    Ok(InboundMail {
        message_id: msg.message_id().map(clean_id).filter(|s| !s.is_empty()),
        in_reply_to: ids(msg.in_reply_to()),
        references: bounded_references(ids(msg.references())),
        from: from
            .and_then(|a| a.address())
            .map(|a| a.trim().to_lowercase()),
        from_name: from
            .and_then(|a| a.name())
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        subject: msg.subject().unwrap_or_default().trim().to_string(),
        text: body_text(&msg),
        attachments: msg
            .attachments()
            .map(|p| Attachment {
                name: p.attachment_name().map(String::from),
                content_type: p
                    .content_type()
                    .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("octet-stream")))
                    .unwrap_or_else(|| "application/octet-stream".into()),
                size: p.contents().len(),
            })
            .collect(),
        auth_results: auth_results(&msg),
        loop_signal: loop_signal(&msg),
    })
}

fn clean_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// The first (the thread's root) and the last `MAX_REFERENCES - 1` (the nearest ancestors).
fn bounded_references(mut ids: Vec<String>) -> Vec<String> {
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<String> = match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => vec![],
    };
    raw.iter()
        .flat_map(|s| s.split_whitespace())
        .map(clean_id)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The text bodies, joined; an HTML-only mail is converted to text (blockquotes become "> "
/// lines, so quoted history is still recognisable).
fn body_text(msg: &Message<'_>) -> String {
    let mut parts = Vec::new();
    for part in msg.text_bodies() {
        if part.is_text_html() {
            parts.push(html_to_text(part.text_contents().unwrap_or_default()));
        } else if let Some(t) = part.text_contents() {
            parts.push(t.to_string());
        }
    }
    parts.join("\n").replace("\r\n", "\n")
}

/// HTML as plain text, in time linear in its size: at most [`MAX_HTML_BYTES`] are read, and
/// HTML nested deeper than [`MAX_HTML_DEPTH`] is converted by [`html_to_text_linear`].
pub fn html_to_text(html: &str) -> String {
    let mut end = html.len().min(MAX_HTML_BYTES);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let html = &html[..end];
    if nesting_depth(html) > MAX_HTML_DEPTH {
        return html_to_text_linear(html);
    }
    html2text::from_read(html.as_bytes(), 10_000).unwrap_or_else(|_| html_to_text_linear(html))
}

/// The deepest element nesting, by a single pass over the tags (void elements and
/// self-closing tags do not nest; a close tag pops one level whatever its name, which is
/// enough to bound the work).
fn nesting_depth(html: &str) -> usize {
    const VOID: [&str; 14] = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr",
    ];
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
        } else if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
            continue;
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if !name.is_empty() && !VOID.contains(&name.as_str()) {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
    }
    deepest
}

/// A plain, linear HTML-to-text: block elements break lines, `<script>` and `<style>` are
/// dropped, other tags are removed and the common entities decoded. Used where html2text would
/// be too slow; it loses only layout.
pub fn html_to_text_linear(html: &str) -> String {
    const BLOCKS: [&str; 16] = [
        "br",
        "p",
        "div",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "ul",
        "ol",
        "table",
        "hr",
    ];
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        push_decoded(&mut out, &rest[..i]);
        rest = &rest[i + 1..];
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if (name == "script" || name == "style") && !tag.starts_with('/') {
            // Skip to the matching close tag (case-insensitively), or to the end.
            // What is skipped is consumed, so the whole pass stays linear.
            let needle = format!("</{name}");
            match rest
                .as_bytes()
                .windows(needle.len())
                .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            {
                Some(j) => rest = &rest[j..],
                None => rest = "",
            }
        } else if BLOCKS.contains(&name.as_str()) && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    push_decoded(&mut out, rest);
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn push_decoded(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        // An entity ends within 12 bytes; counted in bytes (';' is ASCII, so wherever it is
        // found is a char boundary), never by slicing the text, which could cut a character.
        let end = rest.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let entity = &rest[1..e];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => entity
                    .strip_prefix('#')
                    .and_then(|n| match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    })
                    .and_then(char::from_u32),
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// Reads every Authentication-Results header. Within one, any failing method counts: a forged
/// From fails DMARC or SPF at the store's server even when another method passes for another
/// domain.
fn auth_results(msg: &Message<'_>) -> Vec<AuthResult> {
    let mut out = Vec::new();
    for (name, value) in msg.headers_raw() {
        if !name.eq_ignore_ascii_case("Authentication-Results") {
            continue;
        }
        let v = value.to_ascii_lowercase();
        let authserv_id = v
            .split(';')
            .next()
            .and_then(|id| id.split_whitespace().next())
            .unwrap_or_default()
            .to_string();
        let mut auth = Auth::None;
        'methods: for method in ["dmarc", "dkim", "spf"] {
            for outcome in ["fail", "softfail", "pass"] {
                if v.split(|c: char| c == ';' || c.is_whitespace())
                    .any(|tok| tok == format!("{method}={outcome}"))
                {
                    if outcome == "pass" {
                        auth = Auth::Pass;
                    } else {
                        auth = Auth::Fail;
                        break 'methods;
                    }
                }
            }
        }
        out.push(AuthResult { authserv_id, auth });
    }
    out
}

/// Signs of mail written by a machine: answering it would start a mail loop or write to a list.
fn loop_signal(msg: &Message<'_>) -> Option<String> {
    let header = |name: &str| {
        msg.headers_raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    // RFC 3834: anything but "no" is automatic (auto-replied, auto-generated, auto-notified).
    if let Some(v) = header("Auto-Submitted") {
        if v != "no" && !v.starts_with("no;") && !v.starts_with("no ") {
            return Some(format!("auto_submitted: {v}"));
        }
    }
    for name in [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponse",
        "X-Auto-Response",
    ] {
        if header(name).is_some() {
            return Some("auto_reply".into());
        }
    }
    if let Some(v) = header("Precedence") {
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            return Some(format!("precedence: {v}"));
        }
    }
    for name in ["List-Id", "List-Unsubscribe", "List-Post"] {
        if header(name).is_some() {
            return Some("mailing_list".into());
        }
    }
    // A null reverse path is how bounces and other notifications are sent (RFC 5321 4.5.5).
    if header("Return-Path").is_some_and(|v| {
        v.trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .is_empty()
    }) {
        return Some("bounce: null return path".into());
    }
    let ct = msg.root_part().content_type();
    if ct.is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    }) {
        return Some("bounce: delivery report".into());
    }
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let local = from.split('@').next().unwrap_or_default();
    if matches!(local, "mailer-daemon" | "postmaster") {
        return Some("bounce: sent by the mail system".into());
    }
    if matches!(
        local.replace(['-', '_', '.'], "").as_str(),
        "noreply" | "donotreply"
    ) {
        return Some("no_reply_sender".into());
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ampersand_before_a_multibyte_character_is_kept_not_a_panic() {
        // Found by fuzz/fuzz_targets/email_strip.rs: the entity scan sliced 12 bytes of text,
        // which cut the euro sign in two.
        let text = html_to_text_linear("<p>caf&abcdefghij\u{20ac} ok &amp; done</p>");
        assert_eq!(text, "caf&abcdefghij\u{20ac} ok & done");
    }

    use super::*;
    use crate::email::strip::strip;

    macro_rules! fixture {
        ($name:literal) => {
            parse(include_bytes!(concat!(
                "../../tests/fixtures/email/",
                $name
            )))
            .unwrap()
        };
    }

    #[test]
    fn a_gmail_reply_reads_as_its_new_question_with_its_thread() {
        let m = fixture!("multipart-alternative.eml");
        assert_eq!(m.message_id.as_deref(), Some("CAB1234@mail.gmail.com"));
        assert_eq!(m.in_reply_to, ["shopkeep.aaa@shop.test"]);
        assert_eq!(
            m.references,
            ["first@mail.gmail.com", "shopkeep.aaa@shop.test"]
        );
        assert_eq!(
            m.from.as_deref(),
            Some("maya.chen@example.com"),
            "addresses are compared lower-cased"
        );
        assert_eq!(m.from_name.as_deref(), Some("Maya Chen"));
        assert_eq!(m.auth(""), Auth::Pass);
        assert_eq!(m.loop_signal, None);
        assert_eq!(
            strip(&m.text),
            "How long will the refund take?",
            "the text/plain alternative, without quote and sign-off"
        );
    }

    #[test]
    fn an_html_only_mail_is_read_as_text() {
        let m = fixture!("html-only.eml");
        let text = strip(&m.text);
        assert!(
            text.contains("Do you ship to") && text.contains("Canada"),
            "{text}"
        );
        assert!(!text.contains('<'), "no markup: {text}");
        assert!(!text.contains("Sam"), "sign-off cut: {text}");
    }

    #[test]
    fn deeply_nested_html_is_read_in_linear_time() {
        // 100,000 nested divs (1.1 MB) took over a minute through html2text alone.
        for depth in [16_000usize, 64_000, 100_000] {
            let html = format!(
                "{}Where is my order LF-100001?{}",
                "<div>".repeat(depth),
                "</div>".repeat(depth)
            );
            let started = std::time::Instant::now();
            let text = html_to_text(&html);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{depth} deep took {:?}",
                started.elapsed()
            );
            assert!(
                text.contains("Where is my order LF-100001?"),
                "{depth}: {text:.80}"
            );
        }
        // Ordinary HTML still goes through html2text (quotes become "> " lines).
        let text =
            html_to_text("<p>Is this in stock?</p><blockquote>old &amp; quoted</blockquote>");
        assert!(
            text.contains("Is this in stock?") && text.contains("> old & quoted"),
            "{text}"
        );
    }

    #[test]
    fn the_linear_converter_keeps_text_and_drops_markup_scripts_and_styles() {
        let text = html_to_text_linear("<style>p{color:red}</style><p>Hi &amp; thanks&#33;</p><SCRIPT>alert(1)</SCRIPT><div>Order&nbsp;LF-1 &#x2014; &bogus; &</div>");
        assert_eq!(text, "Hi & thanks!\nOrder LF-1 \u{2014} &bogus; &");
    }

    #[test]
    fn a_huge_references_header_keeps_the_root_and_the_nearest_ancestors() {
        let refs: Vec<String> = (0..50_000).map(|i| format!("<m{i}@x.test>")).collect();
        let raw = format!("From: a@b.test\r\nTo: s@shop.test\r\nSubject: Re: hi\r\nMessage-ID: <new@b.test>\r\nReferences: {}\r\n\r\nhello\r\n", refs.join(" "));
        let started = std::time::Instant::now();
        let m = parse(raw.as_bytes()).unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(m.references.len(), MAX_REFERENCES);
        assert_eq!(m.references.first().map(String::as_str), Some("m0@x.test"));
        assert_eq!(
            m.references.last().map(String::as_str),
            Some("m49999@x.test")
        );
    }

    #[test]
    fn latin1_quoted_printable_is_decoded() {
        let m = fixture!("latin1-qp.eml");
        assert_eq!(m.subject, "Rückgabe");
        assert_eq!(m.from_name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(
            strip(&m.text),
            "Kann ich meine Bestellung zurückgeben? Das Café-Set gefällt mir nicht."
        );
    }

    #[test]
    fn attachments_are_noted_not_read() {
        let m = fixture!("attachment.eml");
        assert_eq!(strip(&m.text), "My lamp arrived broken, photo attached.");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(
            (
                m.attachments[0].name.as_deref(),
                m.attachments[0].content_type.as_str()
            ),
            (Some("lamp.jpg"), "image/jpeg")
        );
        assert!(m.attachments[0].size > 0);
    }

    #[test]
    fn an_outlook_reply_loses_its_quoted_block() {
        let m = fixture!("outlook-reply.eml");
        assert_eq!(m.in_reply_to, ["shopkeep.bbb@shop.test"]);
        assert_eq!(
            strip(&m.text),
            "It still has not arrived. Can you check again?"
        );
    }

    #[test]
    fn auto_replies_bounces_and_list_mail_are_recognised() {
        assert!(fixture!("auto-reply.eml")
            .loop_signal
            .unwrap()
            .starts_with("auto_submitted"));
        assert!(fixture!("bounce.eml")
            .loop_signal
            .unwrap()
            .starts_with("bounce"));
        assert!(fixture!("list.eml").loop_signal.is_some());
        let with = |headers: &str| {
            parse(
                format!("From: a@customer.test\r\nSubject: x\r\n{headers}\r\nhello\r\n").as_bytes(),
            )
            .unwrap()
            .loop_signal
        };
        assert_eq!(
            with("Auto-Submitted: no\r\n"),
            None,
            "\"no\" means a person wrote it"
        );
        assert!(with("Precedence: bulk\r\n").is_some());
        assert!(with("X-Autorespond: yes\r\n").is_some());
        assert!(
            parse(b"From: no-reply@customer.test\r\nSubject: x\r\n\r\nhello\r\n")
                .unwrap()
                .loop_signal
                .is_some()
        );
        assert!(
            parse(b"From: postmaster@customer.test\r\nSubject: x\r\n\r\nhello\r\n")
                .unwrap()
                .loop_signal
                .is_some()
        );
        assert_eq!(fixture!("multipart-alternative.eml").loop_signal, None);
    }

    #[test]
    fn a_failing_authentication_result_is_honoured() {
        assert_eq!(fixture!("auth-fail.eml").auth(""), Auth::Fail);
        let with = |ar: &str| {
            parse(format!("From: a@customer.test\r\nAuthentication-Results: mx.shop.test; {ar}\r\n\r\nhi\r\n").as_bytes()).unwrap().auth("")
        };
        assert_eq!(with("spf=softfail smtp.mailfrom=customer.test"), Auth::Fail);
        assert_eq!(
            with("dkim=pass header.d=customer.test; dmarc=fail"),
            Auth::Fail,
            "one failure is enough"
        );
        assert_eq!(with("dkim=pass header.d=customer.test"), Auth::Pass);
        assert_eq!(
            parse(b"From: a@customer.test\r\n\r\nhi\r\n")
                .unwrap()
                .auth(""),
            Auth::None
        );
    }

    #[test]
    fn only_the_stores_own_server_is_believed_when_it_is_named() {
        // The sender wrote a passing result into the mail; the store's server found it forged.
        let raw = "From: maya.chen@example.com\r\n\
            Authentication-Results: MX.shop.test; spf=fail smtp.mailfrom=example.com; dmarc=fail header.from=example.com\r\n\
            Authentication-Results: mx.shop.test.evil; dkim=pass header.d=example.com\r\n\
            Authentication-Results: mail.example.com; dmarc=pass\r\n\r\nhi\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        assert_eq!(m.auth_results.len(), 3);
        assert_eq!(
            m.auth_results[0],
            AuthResult {
                authserv_id: "mx.shop.test".into(),
                auth: Auth::Fail
            }
        );
        assert_eq!(m.auth("mx.shop.test"), Auth::Fail);
        assert_eq!(m.auth(""), Auth::Fail, "unnamed, any failure still wins");
        // A forged header alone says nothing once the store's server is named.
        let forged = parse(b"From: maya.chen@example.com\r\nAuthentication-Results: mx.shop.test.evil; dmarc=pass\r\n\r\nhi\r\n").unwrap();
        assert_eq!(forged.auth("mx.shop.test"), Auth::None);
        let own = parse(b"From: maya.chen@example.com\r\nAuthentication-Results: mx.shop.test;\r\n dmarc=pass header.from=example.com\r\n\r\nhi\r\n").unwrap();
        assert_eq!(
            own.auth("mx.shop.test"),
            Auth::Pass,
            "a folded header is read whole"
        );
    }

    #[test]
    fn garbage_is_not_a_mail() {
        assert!(parse(b"").is_err());
    }
}

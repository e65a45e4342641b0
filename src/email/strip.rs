//! What the customer wrote this time: a reply's quoted history ("On … wrote:" and the "> " lines
//! under it, Outlook's "-----Original Message-----" or "From: … Sent: …" block) and their
//! signature ("-- ", "Sent from my iPhone", a sign-off and name at the very end) are cut, so the
//! assistant reads the new question, not the whole thread.
//!
//! Conservative on purpose: only lines that are certainly quotes or signatures go. A closing
//! "Thanks," is removed only when nothing but a short name follows it.

/// The new text of a message body.
pub fn strip(body: &str) -> String {
    let lines: Vec<&str> = body.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if starts_history(&lines, i) || is_signature_start(t) {
            break;
        }
        // Quoted lines interleaved with answers are dropped one by one; the answers stay.
        if !t.starts_with('>') {
            kept.push(line);
        }
        i += 1;
    }
    drop_sign_off(&mut kept);
    let text = kept.join("\n");
    collapse_blank_lines(text.trim())
}

/// Does a quoted history begin at line `i`?
fn starts_history(lines: &[&str], i: usize) -> bool {
    let t = lines[i].trim();
    let lower = t.to_lowercase();
    // Gmail, Apple Mail, Thunderbird: "On Tue, 4 Nov 2025 at 09:12, Larkfield <…> wrote:",
    // sometimes wrapped onto a second line; and the same in a few other languages.
    let attribution = |s: &str| {
        let s = s.trim().to_lowercase();
        s.ends_with("wrote:")
            || s.ends_with("schrieb:")
            || s.ends_with("a écrit :")
            || s.ends_with("a écrit:")
            || s.ends_with("escribió:")
    };
    let starts = ["on ", "am ", "le ", "el "]
        .iter()
        .any(|p| lower.starts_with(p));
    if starts
        && (attribution(t)
            || lines
                .get(i + 1)
                .is_some_and(|next| attribution(next) && next.split_whitespace().count() <= 6))
    {
        return true;
    }
    // Outlook.
    let dashes = lower.trim_matches('-').trim();
    if lower.starts_with("-----") && (dashes == "original message" || dashes == "forwarded message")
    {
        return true;
    }
    if t.len() >= 20 && t.chars().all(|c| c == '_') {
        return true;
    }
    // "From: Larkfield Goods <…>" followed by "Sent:"/"Date:" and "To:"/"Subject:" header lines.
    if lower.starts_with("from:") {
        let next: Vec<String> = lines
            .iter()
            .skip(i + 1)
            .take(4)
            .map(|l| l.trim().to_lowercase())
            .collect();
        let has = |p: &str| next.iter().any(|l| l.starts_with(p));
        if (has("sent:") || has("date:")) && (has("to:") || has("subject:")) {
            return true;
        }
    }
    false
}

fn is_signature_start(t: &str) -> bool {
    let lower = t.to_lowercase();
    // "-- " is the standard delimiter (its trailing space is often lost on the way).
    t == "--"
        || t == "-- "
        || [
            "sent from my ",
            "sent from mail for ",
            "get outlook for ",
            "sent from outlook",
            "sent from yahoo mail",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// "Thanks,\nMaya" or "Best regards,\nMaya Chen\nSeattle" at the very end.
fn drop_sign_off(kept: &mut Vec<&str>) {
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    let n = kept.len();
    for back in 1..=4.min(n) {
        let i = n - back;
        let l = kept[i].trim().to_lowercase();
        let l = l.trim_end_matches([',', '!', '.']);
        let sign_off = matches!(
            l,
            "thanks"
                | "thank you"
                | "many thanks"
                | "thanks in advance"
                | "cheers"
                | "best"
                | "regards"
                | "best regards"
                | "kind regards"
                | "warm regards"
                | "sincerely"
                | "yours sincerely"
                | "all the best"
        );
        if sign_off {
            let after_is_a_name = kept[i + 1..].iter().all(|l| l.trim().chars().count() <= 40);
            if after_is_a_name && i > 0 {
                kept.truncate(i);
            }
            return;
        }
    }
}

fn collapse_blank_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_attribution_and_quotes_are_cut() {
        let body = "Yes please, go ahead.\n\nOn Tue, 4 Nov 2025 at 09:12, Larkfield Goods <support@shop.test> wrote:\n> Shall I start the return?\n>\n> — The Larkfield Goods team\n";
        assert_eq!(strip(body), "Yes please, go ahead.");
    }

    #[test]
    fn a_wrapped_attribution_line_is_recognised() {
        let body = "Thanks, that helps.\n\nOn Tue, 4 Nov 2025 at 09:12, Larkfield Goods Support Team <support@shop.test>\nwrote:\n> Refunds take 5–7 days.";
        assert_eq!(strip(body), "Thanks, that helps.");
    }

    #[test]
    fn outlook_original_message_and_header_blocks_are_cut() {
        let a = "Where is it now?\r\n\r\n-----Original Message-----\r\nFrom: Larkfield Goods\r\nSent: Tuesday\r\nSubject: Re: order\r\n\r\nIt shipped.";
        assert_eq!(strip(a), "Where is it now?");
        let b = "Where is it now?\n\n________________________________\nFrom: Larkfield Goods <support@shop.test>\nSent: Tuesday, November 4, 2025 9:12 AM\nTo: Maya\nSubject: Re: order\n\nIt shipped.";
        assert_eq!(strip(b), "Where is it now?");
        let c = "Where is it now?\n\nFrom: Larkfield Goods <support@shop.test>\nDate: Tuesday\nTo: Maya\n\nIt shipped.";
        assert_eq!(strip(c), "Where is it now?");
    }

    #[test]
    fn signatures_and_closing_sign_offs_are_cut_but_the_question_stays() {
        assert_eq!(
            strip("How long do refunds take?\n\n-- \nMaya Chen\n+1 555 0100"),
            "How long do refunds take?"
        );
        assert_eq!(
            strip("How long do refunds take?\n\nSent from my iPhone"),
            "How long do refunds take?"
        );
        assert_eq!(
            strip("How long do refunds take?\n\nThanks,\nMaya"),
            "How long do refunds take?"
        );
        assert_eq!(
            strip("Thanks for the quick reply! Where is order LF-100001?"),
            "Thanks for the quick reply! Where is order LF-100001?"
        );
    }

    #[test]
    fn inline_answers_between_quotes_are_kept() {
        let body = "> Which order is it?\nLF-100001\n> And your email?\nmaya.chen@example.com";
        assert_eq!(strip(body), "LF-100001\nmaya.chen@example.com");
    }

    #[test]
    fn a_message_that_is_only_a_quote_is_empty() {
        assert_eq!(strip("On Tue, 4 Nov 2025, Larkfield wrote:\n> hello"), "");
    }
}

//! A raw inbound mail, as IMAP, the webhook or `email ingest` hands it over: parsed, then every
//! step the channel takes before the assistant (authentication results, stripping, threading).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopkeep::email::{parse, strip, thread};

fuzz_target!(|raw: &[u8]| {
    let Ok(mail) = parse::parse(raw) else { return };
    let _ = mail.auth("");
    let _ = mail.auth("mx.larkfield.example");
    let _ = strip::strip(&mail.text);
    let _ = thread::is_reply(&mail.subject);
    let _ = thread::reply_subject(&mail.subject);
    let _ = thread::lookup_ids(&mail.in_reply_to, &mail.references);
    if let Some(id) = &mail.message_id {
        let _ = thread::reply_references(&mail.references, id);
    }
    if let Some(from) = &mail.from {
        let _ = shopkeep::email::address_domain(from);
    }
});

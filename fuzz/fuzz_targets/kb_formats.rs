//! A knowledge-base file of each kind (the first byte picks Markdown, text, HTML or PDF; a
//! second part after a NUL is a PDF's `.meta` sidecar), read and cut into passages.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use shopkeep::kb::{chunk, parse_document, DocKind};

/// pdf-extract panics on malformed files and `kb::parse_document` catches that (a format error).
/// libFuzzer's hook would abort on the panic before it is caught, so panics raised inside the
/// PDF reader go to the library's `catch_unwind`; any other panic still aborts (a finding).
fn let_the_library_catch_pdf_reader_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_reader = info.location().is_some_and(|l| {
                let f = l.file();
                f.contains("/pdf-extract-") || f.contains("/lopdf-")
            });
            if !in_reader {
                abort(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_the_library_catch_pdf_reader_panics();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let kind = DocKind::ALL[pick as usize % DocKind::ALL.len()];
    let (bytes, meta) = match rest.iter().position(|&b| b == 0) {
        Some(i) if kind == DocKind::Pdf => (&rest[i + 1..], std::str::from_utf8(&rest[..i]).ok()),
        _ => (rest, None),
    };
    if let Ok(doc) = parse_document(bytes, kind, "fuzz-doc", "fuzz-doc", meta) {
        let _ = chunk(&doc);
    }
});

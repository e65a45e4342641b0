//! Text a mail body could hold: HTML to text (both converters), then quote and signature
//! stripping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shopkeep::email::{parse, strip};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = strip::strip(&parse::html_to_text(&text));
    let _ = parse::html_to_text_linear(&text);
    let _ = strip::strip(&text);
});

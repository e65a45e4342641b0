//! What other systems send in: a platform event (`POST /v1/platform/events`: signature header,
//! then body) and a signed hand-off webhook as a receiver checks it. The input is
//! `header \n body`; each body is also tried with its own valid signature, so the JSON reading
//! behind the signature check is reached too.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use shopkeep::{platform::events, webhook};

const SECRET: &str = "fuzz-secret-0123456789";

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]), &data[i + 1..]),
        None => (Default::default(), data),
    };
    let _ = events::accept(SECRET, &header, body);
    let _ = webhook::verify_signature(
        SECRET,
        &header,
        body,
        1_767_225_600,
        Duration::from_secs(300),
    );
    // The same body signed as the platform would sign it.
    let _ = events::accept(SECRET, &events::sign(SECRET, body), body);
    let t = 1_767_225_600;
    assert!(webhook::verify_signature(
        SECRET,
        &webhook::sign(SECRET, t, body),
        body,
        t,
        Duration::from_secs(300)
    ));
});

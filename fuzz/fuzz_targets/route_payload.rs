//! Any bytes a client sends as documents, in each format, with and without a known primary
//! key: routing by shard answers a payload or an error, never panics, and the calls it plans
//! cover exactly the bytes it announced.

#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_core::document::{parse_payload, PayloadFormat};
use miroir_core::hash::ShardCount;
use miroir_core::route::{route_payload, Route};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let format = match selector % 4 {
        0 => PayloadFormat::Ndjson,
        1 => PayloadFormat::Json,
        2 => PayloadFormat::Csv { delimiter: b',' },
        _ => PayloadFormat::Csv { delimiter: b';' },
    };
    let primary_key = (selector & 0x10 != 0).then_some("id");
    let Ok(count) = ShardCount::new(4) else {
        return;
    };
    let groups = [0, 1, 0, 1];
    let route = Route {
        primary_key,
        count,
        group_of_shard: &groups,
    };
    if let Ok(routed) = route_payload(payload, format, route) {
        let planned: u64 = routed
            .calls(&[0, 1], 64)
            .iter()
            .flat_map(|call| call.ranges.iter())
            .map(|(start, end)| end - start)
            .sum();
        assert!(
            planned <= routed.len(),
            "planned {planned} of {}",
            routed.len()
        );
    }
    let _ = parse_payload(payload, format);
});

//! SSE parsing is linear in the bytes and independent of how the server
//! splits its body into HTTP chunks: a bare SSE server (`RawSse`) through
//! the whole pipeline, with property tests over the chunking.

use proptest::prelude::*;

use super::*;
use support::sockets::RawSse;

/// Without the 5 s bound of [`super::collect`]: one-byte chunks of a big
/// event take longer, under a hang guard of their own.
async fn collect(stream: tappass::agent::ChatStream) -> Vec<Result<ChatChunk, Error>> {
    stream.collect().await
}

/// One SSE event of 256 KiB: a quarter of the parser's 1 MiB limit, whose
/// acceptance just under the limit `agent::stream`'s unit tests show.
fn big_event() -> (String, String) {
    let content = "x".repeat(256 * 1024);
    let body = event(json!({"content": content, "finish_reason": "stop"})) + "data: [DONE]\n\n";
    (content, body)
}

/// Streams `chunks` (one HTTP chunk each) from a fresh raw server; the
/// items and how long the stream took from its first byte to its end.
async fn time_stream(chunks: Vec<Vec<u8>>) -> (Vec<Result<ChatChunk, Error>>, Duration) {
    let server = RawSse::start(chunks).await;
    let agent = agent(server.url());
    let stream = agent.stream("hi").await.expect("stream");
    let started = Instant::now();
    let items = collect(stream).await;
    (items, started.elapsed())
}

/// A 256 KiB event sent one byte per HTTP chunk, through the whole pipeline
/// (hyper, reqwest, the agent's stream and its parser), parses in time
/// proportional to its size. Compared in the same run: the same event in one
/// chunk, and the same one-byte chunks carried by the transport alone (read
/// with reqwest, no parsing), which is what any client pays for such a
/// server. A pipeline that rescans or copies its buffer on each chunk needs
/// about 3 * 10^10 byte operations here: minutes in a debug build, against
/// seconds for the transport, so the 10x margin still catches it.
///
/// Each HTTP chunk costs the transport some 20 µs in a debug build: a 1 MiB
/// event took 55 s here, this one a quarter of it. The parser alone is fed
/// a 1 MiB event byte by byte, in process, in `agent::stream`'s unit tests.
#[test]
fn a_256_kib_event_in_1_byte_chunks_parses_in_linear_time() {
    const HANG_GUARD: Duration = Duration::from_secs(600);
    let (content, body) = big_event();
    let runtime = runtime();
    let bytes: Vec<Vec<u8>> = body.bytes().map(|b| vec![b]).collect();
    let (whole, one_chunk) = runtime.block_on(time_stream(vec![body.clone().into_bytes()]));
    let transport = runtime.block_on(async {
        let server = RawSse::start(bytes.clone()).await;
        let mut response = reqwest::get(format!("{}{CHAT}", server.url()))
            .await
            .expect("answer");
        let started = Instant::now();
        let mut n = 0;
        while let Some(chunk) = response.chunk().await.expect("chunk") {
            n += chunk.len();
        }
        assert_eq!(n, body.len());
        started.elapsed()
    });
    let (split, byte_chunks) = runtime
        .block_on(async { tokio::time::timeout(HANG_GUARD, time_stream(bytes)).await })
        .expect("no hang");
    eprintln!(
        "256 KiB event: one chunk {one_chunk:?}; one-byte chunks {byte_chunks:?}, of which the transport alone {transport:?}"
    );
    for items in [&whole, &split] {
        assert_eq!(items.len(), 1, "one chunk, then [DONE]");
        let chunk = items[0].as_ref().expect("a chunk");
        assert_eq!(chunk.content.len(), content.len());
        assert_eq!(chunk.content, content);
    }
    assert!(
        byte_chunks < 10 * (transport + one_chunk),
        "one-byte chunks took {byte_chunks:?}: not linear (one chunk {one_chunk:?}, transport alone {transport:?})"
    );
}

/// A valid stream of a few events with their `data:` lines, comments and
/// line endings varied.
fn valid_stream() -> impl Strategy<Value = (Vec<String>, String)> {
    let text = "[ -~]{0,40}|[\\PC]{0,12}";
    let item = (text, any::<bool>(), any::<bool>(), any::<bool>());
    prop::collection::vec(item, 1..6).prop_map(|items| {
        let mut body = String::new();
        let mut contents = Vec::new();
        let n = items.len();
        for (i, (content, crlf, comment, openai)) in items.into_iter().enumerate() {
            let eol = if crlf { "\r\n" } else { "\n" };
            if comment {
                body.push_str(&format!(": keep-alive{eol}event: message{eol}"));
            }
            let last = i + 1 == n;
            let mut chunk = if openai {
                json!({"choices": [{"index": 0, "delta": {"content": content}}]})
            } else {
                json!({"content": content})
            };
            if last {
                chunk["finish_reason"] = json!("stop");
            }
            body.push_str(&format!("data: {chunk}{eol}{eol}"));
            contents.push(content);
        }
        body.push_str("data: [DONE]\n\n");
        (contents, body)
    })
}

/// Splits `body` at these positions (each taken modulo its length).
fn split_at(body: &[u8], mut cuts: Vec<usize>) -> Vec<Vec<u8>> {
    if body.is_empty() {
        return Vec::new();
    }
    for cut in &mut cuts {
        *cut %= body.len();
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain([body.len()]) {
        if cut > from {
            pieces.push(body[from..cut].to_vec());
            from = cut;
        }
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// However the server splits a valid stream into HTTP chunks (inside
    /// a UTF-8 character, a `data:` prefix or a CRLF included), the agent
    /// yields the same chunks in the same order.
    #[test]
    fn any_chunking_of_a_valid_stream_gives_the_same_chunks(
        (contents, body) in valid_stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        one_byte in any::<bool>(),
    ) {
        let pieces = if one_byte {
            body.bytes().map(|b| vec![b]).collect()
        } else {
            split_at(body.as_bytes(), cuts)
        };
        let (items, _) = runtime().block_on(bounded(time_stream(pieces)));
        let got: Vec<String> = items
            .into_iter()
            .map(|item| item.map(|chunk| chunk.content))
            .collect::<Result<_, _>>()
            .map_err(|err| TestCaseError::fail(format!("{err}")))?;
        prop_assert_eq!(got, contents);
    }
}

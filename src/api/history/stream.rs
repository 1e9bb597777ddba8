//! Streaming an answer as its rows are read, keeping the whole answer for
//! the next same read once it is complete.

use std::sync::Arc;

use axum::body::{Body, Bytes};

use super::encode::Encoder;
use crate::api::answer_cache::AnswerCache;
use crate::store::{HistoryReader, HistoryRow, StoreError};

/// Where an answer comes from.
pub(super) enum Source {
    Kept(Bytes),
    Read(HistoryReader),
}

/// Where a streamed answer is kept once it is complete.
pub(super) struct Keep {
    pub(super) answers: Arc<AnswerCache>,
    pub(super) company_id: i64,
    pub(super) key: String,
    pub(super) data_version: i64,
}

/// The pieces of a streamed answer, gathered while they go out for keeping
/// (each piece is shared with the response, not copied); given up
/// (`pieces = None`) once larger than a kept answer may be.
struct Gathering {
    keep: Keep,
    pieces: Option<Vec<Bytes>>,
    size: usize,
}

impl Gathering {
    fn add(&mut self, piece: &Bytes) {
        if let Some(pieces) = &mut self.pieces {
            self.size += piece.len();
            if self.size > self.keep.answers.max_entry() {
                self.pieces = None;
            } else {
                pieces.push(piece.clone());
            }
        }
    }

    /// Keeps the answer, joined into one piece.
    fn finish(self) {
        if let Some(pieces) = self.pieces {
            let Keep {
                answers,
                company_id,
                key,
                data_version,
            } = self.keep;
            answers.put(company_id, key, data_version, Bytes::from(pieces.concat()));
        }
    }
}

pub(super) async fn collect(reader: &mut HistoryReader) -> Result<Vec<HistoryRow>, StoreError> {
    let mut rows = Vec::new();
    while let Some(chunk) = reader.next_chunk().await {
        rows.extend(chunk?);
    }
    Ok(rows)
}

/// Streams the rows as they are read. The first chunk is awaited here, so a
/// failing query is still an error response rather than a cut-off body.
/// With `keep`, the complete answer is also kept for the next same read.
pub(super) async fn streamed(
    mut reader: HistoryReader,
    encoder: Encoder,
    keep: Option<Keep>,
) -> Result<Body, StoreError> {
    let first = reader.next_chunk().await.transpose()?.unwrap_or_default();
    let opening = encoder.open(&first);
    let gathering = keep.map(|keep| Gathering {
        keep,
        pieces: Some(Vec::new()),
        size: 0,
    });
    let stream = async_stream(reader, encoder, opening, gathering);
    // Fused: a body may be polled again after its end (compression does).
    Ok(Body::from_stream(futures_util::StreamExt::fuse(stream)))
}

fn async_stream(
    reader: HistoryReader,
    encoder: Encoder,
    opening: (Vec<u8>, bool),
    gathering: Option<Gathering>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    // The body is sent after the handler returned, outside the request's
    // span: its lines name the request through this copy.
    let request = tracing::Span::current();
    let (first_bytes, wrote_any) = opening;
    let state = (
        Some(reader),
        encoder,
        wrote_any,
        Some(first_bytes),
        gathering,
    );
    futures_util::stream::unfold(
        state,
        move |(reader, encoder, mut wrote_any, pending, mut gathering)| {
            let request = request.clone();
            async move {
                if let Some(bytes) = pending {
                    let bytes = Bytes::from(bytes);
                    if let Some(gathering) = &mut gathering {
                        gathering.add(&bytes);
                    }
                    return Some((Ok(bytes), (reader, encoder, wrote_any, None, gathering)));
                }
                let mut reader = reader?;
                match reader.next_chunk().await {
                    Some(Ok(rows)) => {
                        let bytes = Bytes::from(encoder.rows(&rows, &mut wrote_any));
                        if let Some(gathering) = &mut gathering {
                            gathering.add(&bytes);
                        }
                        Some((
                            Ok(bytes),
                            (Some(reader), encoder, wrote_any, None, gathering),
                        ))
                    }
                    Some(Err(error)) => {
                        tracing::error!(parent: &request, %error, "history stream failed");
                        Some((
                            Err(std::io::Error::other("history stream failed")),
                            (None, encoder, wrote_any, None, None),
                        ))
                    }
                    None => {
                        let closing = Bytes::from(encoder.close());
                        if let Some(mut gathering) = gathering {
                            gathering.add(&closing);
                            gathering.finish();
                        }
                        Some((Ok(closing), (None, encoder, wrote_any, None, None)))
                    }
                }
            }
        },
    )
}

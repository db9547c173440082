//! The message payload: one delivery, byte for byte.
//!
//! NATS headers are text, while webhook headers may hold any bytes, so the
//! whole delivery travels in the payload:
//! `source, delivery id, [coalesce key], [last error], headers` as
//! length-prefixed fields (u32 BE), the received time as u64 BE microseconds,
//! then the body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use hookgate_queue::NewDelivery;
use http::{HeaderMap, HeaderName, HeaderValue};

/// A delivery as stored, with the error of its previous life (a replayed dead letter).
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) delivery: NewDelivery,
    pub(crate) last_error: Option<String>,
}

pub(crate) fn micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

pub(crate) fn from_micros(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}

fn put_field(out: &mut BytesMut, field: &[u8]) {
    let len = u32::try_from(field.len()).expect("fields are far below 4 GiB");
    out.put_u32(len);
    out.put_slice(field);
}

fn put_optional(out: &mut BytesMut, field: Option<&str>) {
    match field {
        Some(value) => {
            out.put_u8(1);
            put_field(out, value.as_bytes());
        }
        None => out.put_u8(0),
    }
}

pub(crate) fn encode(delivery: &NewDelivery, last_error: Option<&str>) -> Bytes {
    let mut headers = BytesMut::new();
    for (name, value) in &delivery.headers {
        put_field(&mut headers, name.as_str().as_bytes());
        put_field(&mut headers, value.as_bytes());
    }
    let mut out = BytesMut::with_capacity(64 + headers.len() + delivery.body.len());
    put_field(&mut out, delivery.source.as_bytes());
    put_field(&mut out, delivery.delivery_id.as_bytes());
    out.put_u64(micros(delivery.received_at));
    put_optional(&mut out, delivery.coalesce_key.as_deref());
    put_optional(&mut out, last_error);
    put_field(&mut out, &headers);
    out.put_slice(&delivery.body);
    out.freeze()
}

/// A payload that is not an envelope.
struct Malformed;

struct Reader {
    rest: Bytes,
}

impl Reader {
    fn field(&mut self) -> Option<Bytes> {
        let (len, _) = self.rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if self.rest.len() < 4 + len {
            return None;
        }
        let field = self.rest.slice(4..4 + len);
        self.rest = self.rest.slice(4 + len..);
        Some(field)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.field()?.to_vec()).ok()
    }

    fn u64(&mut self) -> Option<u64> {
        let (value, _) = self.rest.split_first_chunk::<8>()?;
        let value = u64::from_be_bytes(*value);
        self.rest = self.rest.slice(8..);
        Some(value)
    }

    /// A flag byte, then the field when the flag is 1. `Err` when malformed.
    fn optional(&mut self) -> Result<Option<String>, Malformed> {
        let (&flag, _) = self.rest.split_first().ok_or(Malformed)?;
        self.rest = self.rest.slice(1..);
        match flag {
            0 => Ok(None),
            1 => self.text().map(Some).ok_or(Malformed),
            _ => Err(Malformed),
        }
    }
}

pub(crate) fn decode(payload: Bytes) -> Option<Envelope> {
    let mut reader = Reader { rest: payload };
    let source = reader.text()?;
    let delivery_id = reader.text()?;
    let received_at = from_micros(reader.u64()?);
    let coalesce_key = reader.optional().ok()?;
    let last_error = reader.optional().ok()?;
    let mut header_fields = Reader {
        rest: reader.field()?,
    };
    let mut headers = HeaderMap::new();
    while !header_fields.rest.is_empty() {
        let name = header_fields.field()?;
        let value = header_fields.field()?;
        headers.append(
            HeaderName::from_bytes(&name).ok()?,
            HeaderValue::from_bytes(&value).ok()?,
        );
    }
    let mut delivery =
        NewDelivery::new(source, delivery_id, received_at, reader.rest).with_headers(headers);
    if let Some(key) = coalesce_key {
        delivery = delivery.with_coalesce_key(key);
    }
    Some(Envelope {
        delivery,
        last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips_and_truncation_is_detected() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.insert("x-bin", HeaderValue::from_bytes(&[0xff, 0x80]).unwrap());
        let received = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let delivery = NewDelivery::new("clarife", "evt-1", received, &b"\x00body\xff"[..])
            .with_headers(headers)
            .with_coalesce_key("list-7");
        let payload = encode(&delivery, Some("timeout"));
        let back = decode(payload.clone()).expect("decodes");
        assert_eq!(back.delivery, delivery);
        assert_eq!(back.last_error.as_deref(), Some("timeout"));
        // Cutting into the header block is detected (the body has no length).
        assert!(decode(payload.slice(..30)).is_none());
    }
}

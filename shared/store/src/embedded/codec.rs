//! The embedded backend's on-disk item encoding: a compact tagged binary form of
//! `serde_dynamo::AttributeValue` (one tag byte, little-endian `u32` lengths). It is
//! written only by this crate, so it favours speed over self-description; any change to it
//! needs a format version in the database.

use crate::error::StoreError;
use serde_dynamo::{AttributeValue, Item};
use std::collections::HashMap;

const TAG_S: u8 = 0;
const TAG_N: u8 = 1;
const TAG_B: u8 = 2;
const TAG_BOOL: u8 = 3;
const TAG_NULL: u8 = 4;
const TAG_M: u8 = 5;
const TAG_L: u8 = 6;
const TAG_SS: u8 = 7;
const TAG_NS: u8 = 8;
const TAG_BS: u8 = 9;

pub(crate) fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_map(item.inner(), &mut out);
    out
}

pub(crate) fn decode_item(bytes: &[u8]) -> Result<Item, StoreError> {
    let mut reader = Reader { bytes, at: 0 };
    let map = reader.map()?;
    if reader.at != bytes.len() {
        return Err(corrupt());
    }
    Ok(Item::from(map))
}

fn encode_len(len: usize, out: &mut Vec<u8>) {
    // Item size is capped at 400 KB by validation, so every length fits in u32.
    let len = u32::try_from(len).expect("lengths are bounded by the 400 KB item limit");
    out.extend_from_slice(&len.to_le_bytes());
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_len(bytes.len(), out);
    out.extend_from_slice(bytes);
}

fn encode_map(map: &HashMap<String, AttributeValue>, out: &mut Vec<u8>) {
    encode_len(map.len(), out);
    for (name, value) in map {
        encode_bytes(name.as_bytes(), out);
        encode_value(value, out);
    }
}

fn encode_strings(strings: &[String], out: &mut Vec<u8>) {
    encode_len(strings.len(), out);
    for text in strings {
        encode_bytes(text.as_bytes(), out);
    }
}

fn encode_value(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(text) => {
            out.push(TAG_S);
            encode_bytes(text.as_bytes(), out);
        }
        AttributeValue::N(number) => {
            out.push(TAG_N);
            encode_bytes(number.as_bytes(), out);
        }
        AttributeValue::B(bytes) => {
            out.push(TAG_B);
            encode_bytes(bytes, out);
        }
        AttributeValue::Bool(flag) => out.extend_from_slice(&[TAG_BOOL, u8::from(*flag)]),
        AttributeValue::Null(flag) => out.extend_from_slice(&[TAG_NULL, u8::from(*flag)]),
        AttributeValue::M(map) => {
            out.push(TAG_M);
            encode_map(map, out);
        }
        AttributeValue::L(values) => {
            out.push(TAG_L);
            encode_len(values.len(), out);
            for value in values {
                encode_value(value, out);
            }
        }
        AttributeValue::Ss(strings) => {
            out.push(TAG_SS);
            encode_strings(strings, out);
        }
        AttributeValue::Ns(numbers) => {
            out.push(TAG_NS);
            encode_strings(numbers, out);
        }
        AttributeValue::Bs(blobs) => {
            out.push(TAG_BS);
            encode_len(blobs.len(), out);
            for blob in blobs {
                encode_bytes(blob, out);
            }
        }
    }
}

fn corrupt() -> StoreError {
    StoreError::Backend {
        backend: "embedded",
        message: "a stored item is corrupt".to_string(),
        source: None,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], StoreError> {
        let end = self.at.checked_add(len).ok_or_else(corrupt)?;
        let slice = self.bytes.get(self.at..end).ok_or_else(corrupt)?;
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let raw: [u8; 4] = self.take(4)?.try_into().map_err(|_| corrupt())?;
        usize::try_from(u32::from_le_bytes(raw)).map_err(|_| corrupt())
    }

    fn blob(&mut self) -> Result<Vec<u8>, StoreError> {
        let len = self.len()?;
        Ok(self.take(len)?.to_vec())
    }

    fn text(&mut self) -> Result<String, StoreError> {
        String::from_utf8(self.blob()?).map_err(|_| corrupt())
    }

    fn texts(&mut self) -> Result<Vec<String>, StoreError> {
        let count = self.len()?;
        (0..count).map(|_| self.text()).collect()
    }

    fn map(&mut self) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let count = self.len()?;
        let mut map = HashMap::with_capacity(count.min(1024));
        for _ in 0..count {
            let name = self.text()?;
            let value = self.value()?;
            map.insert(name, value);
        }
        Ok(map)
    }

    fn value(&mut self) -> Result<AttributeValue, StoreError> {
        Ok(match self.byte()? {
            TAG_S => AttributeValue::S(self.text()?),
            TAG_N => AttributeValue::N(self.text()?),
            TAG_B => AttributeValue::B(self.blob()?),
            TAG_BOOL => AttributeValue::Bool(self.byte()? != 0),
            TAG_NULL => AttributeValue::Null(self.byte()? != 0),
            TAG_M => AttributeValue::M(self.map()?),
            TAG_L => {
                let count = self.len()?;
                AttributeValue::L((0..count).map(|_| self.value()).collect::<Result<_, _>>()?)
            }
            TAG_SS => AttributeValue::Ss(self.texts()?),
            TAG_NS => AttributeValue::Ns(self.texts()?),
            TAG_BS => {
                let count = self.len()?;
                AttributeValue::Bs((0..count).map(|_| self.blob()).collect::<Result<_, _>>()?)
            }
            _ => return Err(corrupt()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_attribute_type_round_trips() {
        let nested = HashMap::from([
            ("n".to_string(), AttributeValue::N("-12.50".into())),
            (
                "l".to_string(),
                AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::Null(true)]),
            ),
        ]);
        let item = Item::from(HashMap::from([
            ("pk".to_string(), AttributeValue::S("p\u{e9}".into())),
            ("b".to_string(), AttributeValue::B(vec![0, 255, 7])),
            ("m".to_string(), AttributeValue::M(nested)),
            (
                "ss".to_string(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            ("ns".to_string(), AttributeValue::Ns(vec!["1".into()])),
            ("bs".to_string(), AttributeValue::Bs(vec![vec![1], vec![]])),
        ]));
        assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
    }

    #[test]
    fn truncated_bytes_are_reported_as_corrupt() {
        let item = Item::from(HashMap::from([(
            "pk".to_string(),
            AttributeValue::S("p".into()),
        )]));
        let bytes = encode_item(&item);
        assert!(decode_item(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_item(&[bytes.as_slice(), &[0]].concat()).is_err());
    }
}

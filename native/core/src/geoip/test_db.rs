//! A minimal MaxMind DB writer for tests, after the format's specification
//! (<https://maxmind.github.io/MaxMind-DB/>): an IPv6 search tree of 24-bit records with IPv4
//! networks under `::/96` (where MaxMind's own databases put them), and map, string, array and
//! unsigned integer values.

use std::collections::HashMap;
use std::net::IpAddr;

pub enum Value {
    Str(String),
    U16(u16),
    U32(u32),
    U64(u64),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
}

/// `{"country": {"iso_code": code}}`, the record of a country database.
pub fn country(code: &str) -> Value {
    map([("country", map([("iso_code", Value::Str(code.into()))]))])
}

pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

#[derive(Clone, Copy, PartialEq)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

pub struct Writer {
    nodes: Vec<[Record; 2]>,
    data: Vec<u8>,
    /// Where each distinct value was written: networks with equal values share one record, as
    /// in MaxMind's databases.
    written: HashMap<Vec<u8>, usize>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            nodes: vec![[Record::Empty; 2]],
            data: Vec::new(),
            written: HashMap::new(),
        }
    }
}

impl Writer {
    /// Maps the network `cidr` (`81.2.69.0/24`, `2a02:ec0::/29`) to `value`; networks must not
    /// overlap.
    pub fn insert(&mut self, cidr: &str, value: &Value) -> &mut Self {
        let (addr, len) = cidr.split_once('/').expect("a network is addr/len");
        let len: usize = len.parse().unwrap();
        let (bits, len) = match addr.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), len + 96),
            IpAddr::V6(v6) => (u128::from(v6), len),
        };
        assert!((1..=128).contains(&len));
        let mut bytes = Vec::new();
        encode(value, &mut bytes);
        let offset = *self.written.entry(bytes).or_insert_with_key(|bytes| {
            self.data.extend_from_slice(bytes);
            self.data.len() - bytes.len()
        });
        let mut node = 0;
        for depth in 0..len {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth == len - 1 {
                assert!(self.nodes[node][bit] == Record::Empty, "{cidr} overlaps");
                self.nodes[node][bit] = Record::Data(offset);
                break;
            }
            node = match self.nodes[node][bit] {
                Record::Node(next) => next,
                Record::Empty => {
                    self.nodes.push([Record::Empty; 2]);
                    let next = self.nodes.len() - 1;
                    self.nodes[node][bit] = Record::Node(next);
                    next
                }
                Record::Data(_) => panic!("{cidr} overlaps"),
            };
        }
        self
    }

    /// The database file's bytes: search tree, 16-byte separator, data section, metadata.
    pub fn finish(&self, database_type: &str) -> Vec<u8> {
        let node_count = self.nodes.len();
        let mut out = Vec::new();
        for node in &self.nodes {
            for record in node {
                let value = match *record {
                    Record::Empty => node_count,
                    Record::Node(n) => n,
                    Record::Data(offset) => node_count + 16 + offset,
                };
                assert!(value < 1 << 24);
                out.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = map([
            ("node_count", Value::U32(node_count as u32)),
            ("record_size", Value::U16(24)),
            ("ip_version", Value::U16(6)),
            ("database_type", Value::Str(database_type.into())),
            ("languages", Value::Array(vec![Value::Str("en".into())])),
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_767_225_600)),
            (
                "description",
                map([("en", Value::Str("test database".into()))]),
            ),
        ]);
        encode(&metadata, &mut out);
        out
    }
}

fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::U16(n) => unsigned(out, 5, u64::from(*n)),
        Value::U32(n) => unsigned(out, 6, u64::from(*n)),
        Value::U64(n) => unsigned(out, 9, *n),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (key, value) in pairs {
                encode(&Value::Str(key.clone()), out);
                encode(value, out);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            items.iter().for_each(|item| encode(item, out));
        }
    }
}

/// An unsigned integer in the fewest big-endian bytes.
fn unsigned(out: &mut Vec<u8>, type_id: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, type_id, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// The control byte(s) of a value: type in the top three bits (extended types after it), size
/// in the low five bits, with 29, 30 and 31 announcing one, two or three more size bytes.
fn control(out: &mut Vec<u8>, type_id: u8, size: usize) {
    let (bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if type_id <= 7 {
        out.push(type_id << 5 | bits);
    } else {
        out.push(bits);
        out.push(type_id - 7);
    }
    out.extend_from_slice(&extra);
}

//! A msgpack token reader over a byte slice: enough to validate a value
//! (`skip`) without building it, and for the binding to build Python objects
//! from it. Every length is checked against the bytes left before use, so a
//! hostile frame cannot make us allocate or read past its end.

use crate::error::{BusError, Result};

/// Nesting deeper than this is refused rather than risking the stack.
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    Nil,
    Bool(bool),
    UInt(u64),
    Int(i64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext(i8, &'a [u8]),
}

pub struct Cursor<'a> {
    buf: &'a [u8],
    pub pos: usize,
}

fn short(what: &str) -> BusError {
    BusError::Malformed(format!("msgpack {what} runs past the end of the frame"))
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(short(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize, what: &str) -> Result<u64> {
        Ok(self
            .take(n, what)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn len(&mut self, n: usize, what: &str) -> Result<usize> {
        let l = self.be(n, what)? as usize;
        if l > self.remaining() {
            return Err(short(what));
        }
        Ok(l)
    }

    /// A container's element count must be affordable: each element is at least one byte.
    fn count(&mut self, n: usize, per: usize, what: &str) -> Result<usize> {
        let c = self.be(n, what)? as usize;
        if c.saturating_mul(per) > self.remaining() {
            return Err(short(what));
        }
        Ok(c)
    }

    pub fn token(&mut self) -> Result<Token<'a>> {
        let m = self.take(1, "value")?[0];
        Ok(match m {
            0x00..=0x7f => Token::UInt(u64::from(m)),
            0x80..=0x8f => {
                let n = usize::from(m & 0x0f);
                if n * 2 > self.remaining() {
                    return Err(short("map"));
                }
                Token::Map(n)
            }
            0x90..=0x9f => {
                let n = usize::from(m & 0x0f);
                if n > self.remaining() {
                    return Err(short("array"));
                }
                Token::Array(n)
            }
            0xa0..=0xbf => Token::Str(self.take(usize::from(m & 0x1f), "str")?),
            0xc0 => Token::Nil,
            0xc1 => {
                return Err(BusError::Malformed(format!(
                    "0xc1 is not a msgpack marker (offset {})",
                    self.pos - 1
                )));
            }
            0xc2 => Token::Bool(false),
            0xc3 => Token::Bool(true),
            0xc4..=0xc6 => {
                let l = self.len(1 << (m - 0xc4), "bin")?;
                Token::Bin(self.take(l, "bin")?)
            }
            0xc7..=0xc9 => {
                let l = self.len(1 << (m - 0xc7), "ext")?;
                let t = self.take(1, "ext")?[0] as i8;
                Token::Ext(t, self.take(l, "ext")?)
            }
            0xca => Token::F32(f32::from_bits(self.be(4, "float")? as u32)),
            0xcb => Token::F64(f64::from_bits(self.be(8, "float")?)),
            0xcc..=0xcf => Token::UInt(self.be(1 << (m - 0xcc), "uint")?),
            0xd0..=0xd3 => {
                let n = 1usize << (m - 0xd0);
                let raw = self.be(n, "int")?;
                let shift = 64 - 8 * n as u32;
                Token::Int(((raw << shift) as i64) >> shift)
            }
            0xd4..=0xd8 => {
                let t = self.take(1, "ext")?[0] as i8;
                Token::Ext(t, self.take(1 << (m - 0xd4), "ext")?)
            }
            0xd9..=0xdb => {
                let l = self.len(1 << (m - 0xd9), "str")?;
                Token::Str(self.take(l, "str")?)
            }
            0xdc | 0xdd => Token::Array(self.count(if m == 0xdc { 2 } else { 4 }, 1, "array")?),
            0xde | 0xdf => Token::Map(self.count(if m == 0xde { 2 } else { 4 }, 2, "map")?),
            0xe0..=0xff => Token::Int(i64::from(m as i8)),
        })
    }

    /// Steps over one whole value, checking it is well formed.
    pub fn skip(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(BusError::Malformed(format!("msgpack nested deeper than {MAX_DEPTH}")));
        }
        match self.token()? {
            Token::Array(n) => (0..n).try_for_each(|_| self.skip(depth + 1)),
            Token::Map(n) => (0..2 * n).try_for_each(|_| self.skip(depth + 1)),
            _ => Ok(()),
        }
    }

    pub fn uint(&mut self, what: &str) -> Result<u64> {
        match self.token()? {
            Token::UInt(v) => Ok(v),
            Token::Int(v) if v >= 0 => Ok(v as u64),
            t => Err(BusError::Malformed(format!(
                "{what} must be an unsigned integer, found {t:?}"
            ))),
        }
    }
}

/// Checks that `bytes` hold exactly one well-formed msgpack value.
pub fn validate(bytes: &[u8]) -> Result<()> {
    let mut c = Cursor::new(bytes);
    c.skip(0)?;
    if c.remaining() != 0 {
        return Err(BusError::Malformed(format!("{} bytes after the value", c.remaining())));
    }
    Ok(())
}

//! Checked octet reader and a small writer.
//!
//! The reader is the only place that touches input octets: every read is bounds-checked
//! and reports [`CodecError::Truncated`] instead of panicking.

use uuid::Uuid;

use super::error::CodecError;

/// Largest value a 5-octet date and time field can hold (2^40 - 1 seconds).
pub const MAX_DATE_TIME: u64 = (1 << 40) - 1;

/// Largest value length a TLV-E information element can carry.
pub const MAX_TLV_E_LEN: usize = u16::MAX as usize;

/// A forward-only reader over a borrowed buffer.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Octets not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The next `n` octets.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        let truncated = CodecError::Truncated {
            what,
            needed: n,
            available: self.remaining(),
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let out = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], CodecError> {
        let slice = self.take(N, what)?;
        <[u8; N]>::try_from(slice).map_err(|_| CodecError::Truncated {
            what,
            needed: N,
            available: slice.len(),
        })
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        let [b] = self.array::<1>(what)?;
        Ok(b)
    }

    pub(crate) fn u16_be(&mut self, what: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn uuid(&mut self, what: &'static str) -> Result<Uuid, CodecError> {
        Ok(Uuid::from_bytes(self.array(what)?))
    }

    /// Date and time: 5 octets, big-endian seconds since the UNIX epoch.
    pub(crate) fn date_time(&mut self) -> Result<u64, CodecError> {
        let octets: [u8; 5] = self.array("date and time")?;
        Ok(octets.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Succeeds only if everything was read.
    pub(crate) fn finish(self, what: &'static str) -> Result<(), CodecError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes { what, count }),
        }
    }
}

/// Appends octets to a growing buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn u8(&mut self, b: u8) {
        self.buf.push(b);
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn uuid(&mut self, id: &Uuid) {
        self.bytes(id.as_bytes());
    }

    /// Date and time as 5 big-endian octets; values above [`MAX_DATE_TIME`] are an error.
    pub(crate) fn date_time(&mut self, secs: u64) -> Result<(), CodecError> {
        if secs > MAX_DATE_TIME {
            return Err(CodecError::BadValue {
                what: "date and time (40 bits)",
                value: secs,
            });
        }
        let b = secs.to_be_bytes();
        self.bytes(&[b[3], b[4], b[5], b[6], b[7]]);
        Ok(())
    }

    /// A TV information element: IEI then a fixed-length value.
    pub(crate) fn tv(&mut self, iei: u8, value: &[u8]) {
        self.u8(iei);
        self.bytes(value);
    }

    /// A TLV-E information element: IEI, 2-octet big-endian length, value.
    pub(crate) fn tlv_e(
        &mut self,
        iei: u8,
        what: &'static str,
        value: &[u8],
    ) -> Result<(), CodecError> {
        let len = u16::try_from(value.len()).map_err(|_| CodecError::TooLong {
            what,
            len: value.len(),
            max: MAX_TLV_E_LEN,
        })?;
        self.u8(iei);
        self.bytes(&len.to_be_bytes());
        self.bytes(value);
        Ok(())
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16_be("x"), Ok(0x0102));
        assert_eq!(
            r.take(2, "y"),
            Err(CodecError::Truncated {
                what: "y",
                needed: 2,
                available: 1
            })
        );
        assert!(r.take(usize::MAX, "z").is_err());
        assert_eq!(r.u8("w"), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.rest(), &[] as &[u8]);
        assert_eq!(r.finish("v"), Ok(()));
    }

    #[test]
    fn date_time_is_40_bits() {
        let mut w = Writer::new();
        w.date_time(MAX_DATE_TIME).unwrap();
        assert!(w.date_time(MAX_DATE_TIME + 1).is_err());
        let out = w.into_vec();
        assert_eq!(out, [0xFF; 5]);
        assert_eq!(Reader::new(&out).date_time(), Ok(MAX_DATE_TIME));
    }

    #[test]
    fn tlv_e_length_limit() {
        let mut w = Writer::new();
        assert!(w.tlv_e(0x53, "x", &vec![0; MAX_TLV_E_LEN]).is_ok());
        assert_eq!(
            w.tlv_e(0x53, "x", &vec![0; MAX_TLV_E_LEN + 1]),
            Err(CodecError::TooLong {
                what: "x",
                len: MAX_TLV_E_LEN + 1,
                max: MAX_TLV_E_LEN
            })
        );
    }
}

//! The mandatory octets shared by the three messages: type octet, date and time,
//! conversation ID, message ID.

use uuid::Uuid;

use super::cursor::{Reader, Writer};
use super::error::CodecError;

/// Bit 7 of the message type octet.
pub const PROTECTED_BIT: u8 = 0x40;
/// Bit 8 of the message type octet.
pub const AUTHENTICATED_BIT: u8 = 0x80;
/// Bits 1-6 of the message type octet.
pub const TYPE_MASK: u8 = 0x3F;

/// The decoded message type octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypeOctet {
    pub message_type: u8,
    pub protected: bool,
    pub authenticated: bool,
}

impl TypeOctet {
    pub(crate) fn from_octet(octet: u8) -> Self {
        Self {
            message_type: octet & TYPE_MASK,
            protected: octet & PROTECTED_BIT != 0,
            authenticated: octet & AUTHENTICATED_BIT != 0,
        }
    }

    /// Reads the type octet and checks it announces `expected`.
    pub(crate) fn read(r: &mut Reader<'_>, expected: u8) -> Result<Self, CodecError> {
        let t = Self::from_octet(r.u8("message type")?);
        if t.message_type != expected {
            return Err(CodecError::WrongMessageType {
                expected,
                found: t.message_type,
            });
        }
        Ok(t)
    }

    pub(crate) fn write(w: &mut Writer, message_type: u8, protected: bool, authenticated: bool) {
        let mut octet = message_type & TYPE_MASK;
        if protected {
            octet |= PROTECTED_BIT;
        }
        if authenticated {
            octet |= AUTHENTICATED_BIT;
        }
        w.u8(octet);
    }
}

/// Date and time, conversation ID and message ID, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    pub date_time: u64,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

impl Ids {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            date_time: r.date_time()?,
            conversation_id: r.uuid("conversation ID")?,
            message_id: r.uuid("message ID")?,
        })
    }

    pub(crate) fn write(
        w: &mut Writer,
        date_time: u64,
        conversation_id: &Uuid,
        message_id: &Uuid,
    ) -> Result<(), CodecError> {
        w.date_time(date_time)?;
        w.uuid(conversation_id);
        w.uuid(message_id);
        Ok(())
    }
}

//! The application close codes a gateway closes a scanner's connection or
//! stream with (see docs/protocol.md): the wire contract's numbers, one place.

use quinn::VarInt;
/// Normal close.
pub const OK: VarInt = VarInt::from_u32(0);
/// The gateway is shutting down.
pub const SHUTTING_DOWN: VarInt = VarInt::from_u32(1);
/// A stream was stopped because its framing broke (frame too large).
pub const BAD_FRAMING: VarInt = VarInt::from_u32(2);
/// A stream carried 0-RTT data, which is never processed.
pub const EARLY_DATA: VarInt = VarInt::from_u32(3);
/// The scanner's device certificate has been revoked by an operator.
pub const DEVICE_REVOKED: VarInt = VarInt::from_u32(4);
/// The handshake finished, but `max_connections` scanners are connected.
pub const TOO_MANY_CONNECTIONS: VarInt = VarInt::from_u32(5);
/// The device certificate carries no valid device name (CN).
pub const UNNAMED_DEVICE: VarInt = VarInt::from_u32(6);

/// The properties every StarlingWire parser must keep on arbitrary input, one check per protocol. The
/// libFuzzer targets in Fuzz/ call these (and trap on a broken one); the unit tests run them over
/// truncations and mutations of known packets.
///
/// Each check returns nil when every invariant holds for the input and a description of the first broken
/// one otherwise. Input that fails to parse holds them trivially: it only must not trap.
public enum WireInvariants {}

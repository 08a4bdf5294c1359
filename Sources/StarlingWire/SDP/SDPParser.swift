extension SessionDescription {
    /// Parses an SDP text. Lines may end in `\r\n` or `\n`; blank lines are skipped. A malformed line
    /// throws a `WireError` whose field starts with `line <n>:` and names the SDP field; unknown line
    /// types and unknown attributes are kept.
    public init(parsing text: String) throws(WireError) {
        try self.init(parsingBytes: Array(text.utf8))
    }

    /// Parses SDP from untrusted bytes (UTF-8, RFC 8866 §5).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(parsingBytes: Array(bytes))
    }

    init(parsingBytes bytes: [UInt8]) throws(WireError) {
        var origin: SDP.Origin?
        var sessionName: String?
        var session = SessionDescription(origin: SDP.Origin(sessionID: "0", sessionVersion: 0), timing: [])
        var media: [MediaDescription] = []
        var sawVersion = false
        var lineNumber = 0

        for rawLine in bytes[...].split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.last == 0x0D ? rawLine.dropLast() : rawLine
            if line.isEmpty { continue }
            do throws(WireError) {
                guard String(validating: line, as: UTF8.self) != nil else {
                    throw WireError.invalid(.sdp, "text", "not UTF-8")
                }
                guard line.count >= 2, line[line.startIndex + 1] == SDPScan.equals else {
                    throw WireError.invalid(.sdp, "line", "expected <type>=<value>: '\(SDPScan.quote(line))'")
                }
                let typeByte = line[line.startIndex]
                guard typeByte >= 0x61, typeByte <= 0x7A else {
                    throw WireError.invalid(.sdp, "type", "'\(SDPScan.quote(line.prefix(1)))' is not a lowercase letter")
                }
                let type = Character(Unicode.Scalar(typeByte))
                let value = line[(line.startIndex + 2)...]

                if !sawVersion {
                    guard type == "v" else { throw WireError.invalid(.sdp, "v=", "the first line must be v=0") }
                    guard value.elementsEqual("0".utf8) else {
                        throw WireError.unsupported(.sdp, "v=", "version '\(SDPScan.quote(value))' (only 0 exists)")
                    }
                    sawVersion = true
                    continue
                }
                let other = SDP.Line(type: type, value: SDPScan.string(value))
                if type == "m" {
                    media.append(try MediaDescription(sdpValue: value))
                    continue
                }
                if media.isEmpty {
                    switch type {
                    case "o" where origin == nil: origin = try SDP.Origin(sdpValue: value)
                    case "s" where sessionName == nil: sessionName = SDPScan.string(value)
                    case "c" where session.connection == nil: session.connection = try SDP.Connection(sdpValue: value)
                    case "b": session.bandwidths.append(try SDP.Bandwidth(sdpValue: value))
                    case "t": session.timing.append(try SDP.Timing(sdpValue: value))
                    case "a": session.attributes.append(try SDP.Attribute(line: value))
                    default: session.otherLines.append(other)
                    }
                } else {
                    let i = media.count - 1
                    switch type {
                    case "c" where media[i].connection == nil: media[i].connection = try SDP.Connection(sdpValue: value)
                    case "b": media[i].bandwidths.append(try SDP.Bandwidth(sdpValue: value))
                    case "a": media[i].attributes.append(try SDP.Attribute(line: value))
                    default: media[i].otherLines.append(other)
                    }
                }
            } catch {
                throw WireError(.sdp, field: "line \(lineNumber): \(error.field)", error.reason)
            }
        }
        guard sawVersion else { throw WireError.invalid(.sdp, "v=", "missing (empty description)") }
        guard let origin else { throw WireError.invalid(.sdp, "o=", "missing") }
        guard let sessionName else { throw WireError.invalid(.sdp, "s=", "missing") }
        guard !session.timing.isEmpty else { throw WireError.invalid(.sdp, "t=", "missing") }
        session.origin = origin
        session.sessionName = sessionName
        // Written back in RFC 8866 order, so keep them in that order (stable) for the model to round-trip.
        session.otherLines = SessionDescription.ordered(session.otherLines, SessionDescription.sessionRank)
        for i in media.indices {
            media[i].otherLines = SessionDescription.ordered(media[i].otherLines, SessionDescription.mediaRank)
        }
        session.media = media
        self = session
    }

    static func ordered(_ lines: [SDP.Line], _ rank: (Character) -> Int) -> [SDP.Line] {
        lines.enumerated().sorted { (rank($0.element.type), $0.offset) < (rank($1.element.type), $1.offset) }
            .map(\.element)
    }

    /// Session-level line order (RFC 8866 §5): v o s i u e p c b t r z k, other types, then a.
    static func sessionRank(_ type: Character) -> Int {
        switch type {
        case "v": return 0
        case "o": return 1
        case "s": return 2
        case "i": return 3
        case "u": return 4
        case "e": return 5
        case "p": return 6
        case "c": return 7
        case "b": return 8
        case "t": return 9
        case "r": return 10
        case "z": return 11
        case "k": return 12
        case "a": return 14
        default: return 13
        }
    }

    /// Media-level line order (RFC 8866 §5): m i c b k, other types, then a.
    static func mediaRank(_ type: Character) -> Int {
        switch type {
        case "m": return 0
        case "i": return 1
        case "c": return 2
        case "b": return 3
        case "k": return 4
        case "a": return 6
        default: return 5
        }
    }
}

extension SessionDescription {
    /// The description as SDP text: `\r\n` line endings, lines in RFC 8866 order (v o s, [i u e p],
    /// c, b, t, [r z k], session `a=` lines, then each `m=` section with its c, b and `a=` lines),
    /// attributes in their stored order.
    ///
    /// `serialized()` of a parsed description equals the input byte for byte when the input used
    /// `\r\n` endings and RFC 8866 line order, had no blank lines and wrote numbers without leading
    /// zeros, fingerprints in upper-case hex, and `a=fmtp:<pt>` with a non-empty parameter string.
    /// Descriptions from Chromium and aiortc meet all of these.
    public func serialized() -> String {
        var out = ""
        out.reserveCapacity(4096)
        func line(_ type: String, _ value: String) {
            out += type
            out += "="
            out += value
            out += "\r\n"
        }
        func others(_ lines: [SDP.Line], _ rank: (Character) -> Int, _ r: Int) {
            for l in lines where rank(l.type) == r { line(String(l.type), l.value) }
        }
        let sRank = SessionDescription.sessionRank
        line("v", "0")
        others(otherLines, sRank, 0)
        line("o", origin.sdpValue)
        others(otherLines, sRank, 1)
        line("s", sessionName)
        for r in 2...6 { others(otherLines, sRank, r) }
        if let connection { line("c", connection.sdpValue) }
        others(otherLines, sRank, 7)
        for b in bandwidths { line("b", b.sdpValue) }
        others(otherLines, sRank, 8)
        for t in timing { line("t", t.sdpValue) }
        for r in 9...13 { others(otherLines, sRank, r) }
        for a in attributes { line("a", a.sdpLine) }
        others(otherLines, sRank, 14)

        let mRank = SessionDescription.mediaRank
        for m in media {
            line("m", m.sdpValue)
            for r in 0...1 { others(m.otherLines, mRank, r) }
            if let c = m.connection { line("c", c.sdpValue) }
            others(m.otherLines, mRank, 2)
            for b in m.bandwidths { line("b", b.sdpValue) }
            for r in 3...5 { others(m.otherLines, mRank, r) }
            for a in m.attributes { line("a", a.sdpLine) }
            others(m.otherLines, mRank, 6)
        }
        return out
    }
}

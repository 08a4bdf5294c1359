#!/usr/bin/env python3
"""Data channels relayed in a room, with aiortc's own SCTP stack as the peers.

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`) it starts the built
`starling serve` on 127.0.0.1 (dev tokens on, data rate limits raised for the bulk steps, reliable queues of
1 MiB) and joins alice, bob and carol to one room. Each gets the two channels Starling opens on its
subscribing connection (`starling.reliable`, `starling.lossy`, docs/PROTOCOL.md "Data channels"):
  * sizes, both directions: payloads of 0 B, 1 B, 16 KiB, 64 KiB and the negotiated maximum (our
    a=max-message-size less the envelope), as text and binary, arrive whole at every other participant, tagged
    with the sender's identity;
  * targets: a message to ["bob"] reaches bob only;
  * the control API: a room subscription gets `dataReceived` for each relayed message; `sendData` reaches the
    identities it names or everyone (binary and text, reliable and lossy, empty), with an empty sender identity,
    and one over data.maxMessageBytes is refused; all of it validated against docs/schemas/control;
  * order: 10,000 ordered messages alice -> bob arrive complete and in order;
  * loss: with 5% of bob's datagrams dropped both ways, 1,000 reliable messages all arrive in order, and of
    1,000 lossy ones (unordered, no retransmission) at least 60% arrive and none twice;
  * over the limit: aiortc refuses to send a message over our a=max-message-size (its ValueError names the
    limit); one forced through anyway is dropped by Starling and the sender gets `dataError` `too_large` with
    the size and the limit, and its channel still works;
  * closing: a channel alice opens herself carries her messages (relayed) and, when she closes it, Starling
    resets its side too, so aiortc sees it closed;
  * a slow receiver: carol's network stalls while alice sends 3 MiB to everyone; bob gets every message as fast as
    without the stall (compared with a baseline run in the same test), carol gets `dataError` `reliable_overflow`
    and a fresh reliable channel, and what alice sends afterwards reaches her.
Every /rtc message is validated against docs/schemas/rtc/*.schema.json. Prints figures and 'N passed, N
failed'; exits non-zero on any failure. Bounded: the whole run is capped at 150 s.

    python3 Tests/Interop/data_aiortc.py [--binary .build/debug/starling]
"""

import asyncio
import base64
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from harness import Checks, StarlingProcess, finish, isolated_main  # noqa: E402
import control_api  # noqa: E402
import starling_rtc  # noqa: E402
from starling_rtc import Participant, impair  # noqa: E402

TOTAL_SECONDS = 150
RELIABLE_QUEUE = 1 << 20


class Starling(StarlingProcess):
    def __init__(self, binary):
        super().__init__(binary, {
            "STARLING_MEDIA_PORT_MODE": "single-port",
            "STARLING_MEDIA_UDP_PORT": "0",
            "STARLING_AUTH_DEV_TOKENS": "true",
            "STARLING_DATA_MESSAGES_PER_SECOND": "50000",
            "STARLING_DATA_BYTES_PER_SECOND": str(256 << 20),
            "STARLING_DATA_RELIABLE_QUEUE_BYTES": str(RELIABLE_QUEUE),
            "STARLING_LOG_LEVEL": os.environ.get("DATA_LOG_LEVEL", "info"),
            "STARLING_CONTROL_API_KEY": control_api.API_KEY,
            # Large enough for a sendData over data.maxMessageBytes (the control step's too-large case).
            "STARLING_SIGNALING_MAX_MESSAGE_BYTES": str(1 << 20),
        }, log_prefix="starling-data-", stop_seconds=15)


def fresh(p):
    """Forgets what `p` received so far."""
    p.data_received.clear()


async def sizes(checks, people, limit):
    alice, bob, carol = people
    for sender in (alice, bob):
        others = [p for p in people if p is not sender]
        for p in people:
            fresh(p)
        overhead = 3 + len(sender.label.encode())
        cases = [0, 1, 16 << 10, 64 << 10, limit - overhead]
        sent = []
        for n in cases:
            text = "x" * n
            binary = bytes((i * 7) & 0xFF for i in range(n))
            sender.send_data(text)
            sender.send_data(binary)
            sent += [text, binary]
        for p in others:
            got = await p.wait_data(len(sent), timeout=20)
            ok = [m[1] for m in got] == sent and all(m[0] == sender.label for m in got)
            checks.check(f"sizes {sender.label} -> {p.label}: {', '.join(str(n) for n in cases)} B as text and binary arrive "
                         "whole, in order, tagged with the sender", ok,
                         "" if ok else f"got {[(m[0], len(m[1])) for m in got]}")


async def targets(checks, people):
    alice, bob, carol = people
    for p in people:
        fresh(p)
    alice.send_data("for bob only", targets=["bob"])
    alice.send_data("for everyone")
    got = await bob.wait_data(2)
    await carol.wait_data(1)
    await asyncio.sleep(0.3)
    checks.check("targets: a message to ['bob'] reaches bob and not carol",
                 [m[1] for m in got] == ["for bob only", "for everyone"] and [m[1] for m in carol.data_received] == ["for everyone"],
                 f"bob {[m[1] for m in got]}, carol {[m[1] for m in carol.data_received]}")


async def control(checks, people, server, limit):
    """The control API's side (docs/API.md): a subscription sees each relayed message as `dataReceived`, and
    `sendData` reaches the participants it names (or all), sender identity empty; every request, reply and event
    is validated against docs/schemas/control."""
    alice, bob, carol = people
    c = control_api.Checker()
    http = control_api.HTTP(c, server.port)
    rpc = await control_api.RPC(c, "data").open(server.port)
    try:
        await rpc.call("subscribe", {"room": "data-room"})
        for p in people:
            fresh(p)
        alice.send_data("hello, application")
        alice.send_data(b"\x00\x01\x02", targets=["bob"], reliable=False)
        text = await rpc.wait_event("dataReceived", identity="alice", reliable=True)
        binary = await rpc.wait_event("dataReceived", identity="alice", reliable=False)
        checks.check("control: dataReceived events carry the sender, targets, path and payload",
                     text and text.get("text") == "hello, application" and text["targets"] == []
                     and binary and binary.get("base64") == "AAEC" and binary["targets"] == ["bob"],
                     f"{text}; {binary}")
        await bob.wait_data(2)
        await carol.wait_data(1)

        for p in people:
            fresh(p)
        r = await http.call("sendData", {"room": "data-room", "text": "from the application", "identities": ["bob"]})
        got = await bob.wait_data(1)
        r2 = await rpc.call("sendData", {"room": "data-room", "base64": base64.b64encode(b"\xff" * 3000).decode(),
                                         "reliable": False})
        r3 = await rpc.call("sendData", {"room": "data-room", "text": ""})
        everyone = await asyncio.gather(*(p.wait_data(2, predicate=lambda m: m[0] == "") for p in (alice, carol)),
                                        bob.wait_data(3, predicate=lambda m: m[0] == ""))
        checks.check("control: sendData to ['bob'] reaches bob only, sender identity empty (the application)",
                     r == {"queued": 1} and got[0][:3] == ("", "from the application", "starling.reliable")
                     and all(m[1] != "from the application" for m in alice.data_received + carol.data_received),
                     f"{r}; bob got {got[0][:3]}")
        lossy = [m for m in everyone[0] if m[2] == "starling.lossy"]
        checks.check("control: sendData to everyone, binary on the lossy path and an empty text message",
                     r2 == {"queued": 3} and r3 == {"queued": 3} and lossy and lossy[0][1] == b"\xff\xff\xff" * 1000
                     and all(any(m[1] == "" for m in got) for got in everyone),
                     f"{r2}, {r3}; alice got {[(m[2], len(m[1])) for m in everyone[0]]}")
        e = await http.call("sendData", {"room": "data-room", "text": "x" * limit}, error="invalid_params", valid=True)
        checks.check("control: sendData over data.maxMessageBytes is refused naming the limit",
                     e and "maxMessageBytes" in e.get("message", ""), str(e)[:200])
    finally:
        await rpc.ws.close()
    checks.check(f"control: every request, reply and event matched docs/schemas/control ({c.validated} validated)",
                 not c.failures, "; ".join(c.failures[:3]))


async def ordered(checks, people):
    alice, bob, carol = people
    fresh(bob)
    n = 10_000
    started = time.monotonic()
    for i in range(n):
        alice.send_data(i.to_bytes(4, "big") + b"." * 60, targets=["bob"])
        if i % 500 == 499:
            await asyncio.sleep(0)  # let aiortc's SCTP drain
    got = await bob.wait_data(n, timeout=60)
    seq = [int.from_bytes(m[1][:4], "big") for m in got]
    elapsed = time.monotonic() - started
    checks.check(f"order: {n} ordered messages alice -> bob arrive complete and in order", seq == list(range(n)),
                 f"{len(seq)} received in {elapsed:.1f} s ({n / elapsed:.0f}/s)")


async def lossy(checks, people):
    alice, bob, carol = people
    state = impair(bob.sub, loss=0.05, seed=7)
    try:
        fresh(bob)
        n = 1000
        for i in range(n):
            alice.send_data(b"R" + i.to_bytes(4, "big"), targets=["bob"], reliable=True)
            alice.send_data(b"L" + i.to_bytes(4, "big"), targets=["bob"], reliable=False)
            if i % 100 == 99:
                await asyncio.sleep(0.02)
        await bob.wait_data(n, timeout=40, predicate=lambda m: m[1][:1] == b"R")
        await asyncio.sleep(1.0)
        rel = [int.from_bytes(m[1][1:5], "big") for m in bob.data_received if m[1][:1] == b"R"]
        los = [int.from_bytes(m[1][1:5], "big") for m in bob.data_received if m[1][:1] == b"L"]
        checks.check("loss 5%: 1000 reliable messages all arrive, in order", rel == list(range(n)), f"{len(rel)} arrived")
        checks.check("loss 5%: lossy (unordered, 0 retransmissions) messages lose at most 40% and none arrive twice",
                     len(los) >= 0.6 * n and len(set(los)) == len(los),
                     f"{len(los)} of {n} arrived ({100 - len(los) * 100 / n:.1f}% lost)")
    finally:
        state["loss"] = 0.0


async def over_limit(checks, people, limit):
    alice, bob, carol = people
    try:
        alice.send_data(b"z" * limit)
        refused = False
    except ValueError as e:
        refused = str(limit) in str(e)
    checks.check("over the limit: aiortc refuses a message over our a=max-message-size, naming it", refused)
    sctp = alice.sub.sctp
    saved = sctp._remote_max_message_size
    sctp._remote_max_message_size = 0
    try:
        alice.send_data(b"z" * (limit + 1000))
    finally:
        sctp._remote_max_message_size = saved
    try:
        event = await alice.next_event(types=["dataError"], timeout=10)
        checks.check("over the limit: forced through, it gets dataError too_large with size and limit",
                     event.get("reason") == "too_large" and event.get("limit") == limit and event.get("size", 0) > limit,
                     json.dumps(event))
    except asyncio.TimeoutError:
        checks.check("over the limit: forced through, it gets dataError too_large", False, "no dataError within 10 s")
    fresh(bob)
    alice.send_data("still working", targets=["bob"])
    got = await bob.wait_data(1)
    checks.check("over the limit: the sender's channel still works", got[0][1] == "still working")


async def closing(checks, people):
    alice, bob, carol = people
    channel = alice.sub.createDataChannel("alice-own")
    opened = asyncio.Event()
    closed = asyncio.Event()
    channel.on("open", opened.set)
    channel.on("close", closed.set)
    await asyncio.wait_for(opened.wait(), 10)
    fresh(bob)
    alice.send_data("on my own channel", targets=["bob"], channel=channel)
    got = await bob.wait_data(1)
    checks.check("closing: a channel the participant opened itself carries its messages", got[0][1] == "on my own channel")
    channel.close()
    try:
        await asyncio.wait_for(closed.wait(), 10)
        ok = channel.readyState == "closed"
    except asyncio.TimeoutError:
        ok = False
    checks.check("closing: when alice closes it, Starling resets its side and aiortc sees it closed", ok, channel.readyState)


async def bulk_to_all(alice, receivers, chunks, tag):
    """Alice sends `chunks` 16 KiB messages to everyone, paced; returns when every receiver in `receivers` has them
    and the seconds that took for each."""
    started = time.monotonic()
    for p in receivers:
        fresh(p)
    for i in range(chunks):
        alice.send_data(tag + i.to_bytes(4, "big") + bytes(16 << 10))
        await asyncio.sleep(0.012)  # about 1.3 MiB/s: what aiortc's receivers take without falling behind
    times = {}
    for p in receivers:
        got = await p.wait_data(chunks, timeout=40, predicate=lambda m: m[1][:1] == tag)
        times[p.label] = got[chunks - 1][3] - started
        if [int.from_bytes(m[1][1:5], "big") for m in got[:chunks]] != list(range(chunks)):
            raise AssertionError(f"{p.label}: chunks out of order")
    return times


async def slow_receiver(checks, people):
    alice, bob, carol = people
    chunks = 192  # 3 MiB
    baseline = await bulk_to_all(alice, [bob, carol], chunks, b"B")
    state = impair(carol.sub)
    state["stalled"] = True
    try:
        stalled = await bulk_to_all(alice, [bob], chunks, b"S")
    finally:
        await asyncio.sleep(0.5)
        state["stalled"] = False
    ratio = stalled["bob"] / max(baseline["bob"], 0.05)
    checks.check("slow receiver: bob gets all 3 MiB, no slower while carol stalls",
                 stalled["bob"] <= baseline["bob"] * 1.5 + 0.3,
                 f"bob {baseline['bob']:.2f} s before, {stalled['bob']:.2f} s with carol stalled ({ratio:.2f}x)")
    try:
        event = await carol.next_event(types=["dataError"], timeout=15)
        checks.check("slow receiver: carol gets dataError reliable_overflow", event.get("reason") == "reliable_overflow",
                     json.dumps(event))
    except asyncio.TimeoutError:
        checks.check("slow receiver: carol gets dataError reliable_overflow", False, "none within 15 s")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not ("starling.reliable" in carol.data_closed and carol.data_opened >= 3):
        await asyncio.sleep(0.1)
    checks.check("slow receiver: carol's reliable channel was reset and opened again",
                 "starling.reliable" in carol.data_closed and carol.data_opened >= 3,
                 f"closed {carol.data_closed}, opened {carol.data_opened}")
    await carol.data_ready()
    fresh(carol)
    alice.send_data("after the stall")
    got = await carol.wait_data(1, timeout=20, predicate=lambda m: m[1] == "after the stall")
    checks.check("slow receiver: carol receives again afterwards", bool(got))


async def run(server, checks, people):
    for name in ("alice", "bob", "carol"):
        p = Participant(name)
        people.append(p)
        await p.connect(server.rtc_url)
        await p.join(server.token("data-room", name), data=True)
    data = people[0].join_result.get("data") or {}
    checks.check("the join response announces the data limits and labels",
                 data.get("reliableLabel") == "starling.reliable" and data.get("maxMessageBytes", 0) >= 65536, json.dumps(data))
    await asyncio.gather(*(p.data_ready() for p in people))
    limit = data["maxMessageBytes"]
    remote = people[0].sub.sctp._remote_max_message_size
    checks.check("our a=max-message-size reaches aiortc", remote == limit, f"aiortc holds {remote}, we announce {limit}")
    if os.environ.get("DATA_ONLY"):
        for name in os.environ["DATA_ONLY"].split(","):
            args = {"sizes": (checks, people, limit), "over_limit": (checks, people, limit),
                    "control": (checks, people, server, limit)}.get(name, (checks, people))
            await globals()[name](*args)
        return
    await sizes(checks, people, limit)
    await targets(checks, people)
    await control(checks, people, server, limit)
    await over_limit(checks, people, limit)
    await closing(checks, people)
    await slow_receiver(checks, people)
    # Loss on fresh associations of their own: after aiortc's 10,000-message burst, lossy messages on the same
    # associations degrade them (under investigation).
    fresh_people = []
    for name in ("alice", "bob", "carol"):
        p = Participant(name)
        fresh_people.append(p)
        people.append(p)
        await p.connect(server.rtc_url)
        await p.join(server.token("data-loss", name), data=True)
    await asyncio.gather(*(p.data_ready() for p in fresh_people))
    await lossy(checks, fresh_people)
    await ordered(checks, people[:3])


async def run_bounded(server, checks):
    people = await starling_rtc.run_participants(run, server, checks, TOTAL_SECONDS)
    await asyncio.gather(*(p.close() for p in people), return_exceptions=True)


def run_inner(binary):
    starling_rtc.schemas()
    checks = Checks()
    server = Starling(binary)
    started = time.monotonic()
    try:
        asyncio.run(run_bounded(server, checks))
    finally:
        server.stop()
    return finish(server, checks, started)


if __name__ == "__main__":
    sys.exit(isolated_main(__file__, __doc__, run_inner))

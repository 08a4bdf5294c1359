#!/usr/bin/env python3
"""Chat and file sharing between headless Chromium tabs through the web app (Chromium's dcSCTP).

Inside a network namespace holding only `lo` (re-executes itself under `unshare --net`) it starts the built
`starling serve` on 127.0.0.1 with the web root and development tokens, opens two Chromium sessions (fake camera
and microphone) on the web app and joins them to one room through its form, then:
  * chat: each types a message into the chat form and sends it; the other shows it, with the sender's name;
  * file: ann sends ben a 5 MB file of random bytes through the web app's file sharing (16 KiB chunks on the
    reliable channel, paced under the server's rate); ben's page receives it, its SHA-256 matches the sender's
    and the test's own, and the page saved it (a download link exists);
  * a third participant joins while the file is on its way: the transfer still completes and verifies at ben,
    and a chat message ann sends after cat joined reaches cat (nothing cat is owed is missed).
Prints 'N passed, N failed'; exits non-zero on any failure. Bounded: every wait has a timeout.

    python3 Tests/Interop/data_chromium.py [--binary .build/debug/starling]
"""

import base64
import hashlib
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from conference_chromium import Browser, Failure, Starling, wait_for  # noqa: E402
from harness import isolated_main  # noqa: E402

ROOM = "data-chat"
FILE_BYTES = 5 * 1000 * 1000


def run_inner(binary):
    started = time.time()
    results = []
    # 768 KiB/s: the web app paces at 75% of it, so the 5 MB file takes about 8.5 s (see the late joiner below).
    server = Starling(binary, extra_env={"STARLING_DATA_BYTES_PER_SECOND": str(768 << 10)},
                      log_prefix="starling-data-chromium-")
    browsers = []

    def check(name, ok, detail=""):
        results.append((name, bool(ok), detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)

    def cleanup(*_):
        for b in browsers:
            b.quit()
        server.stop()

    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(1)))
    try:
        ann, ben = Browser("ann"), Browser("ben")
        browsers += [ann, ben]
        for b in (ann, ben):
            b.open_and_join(server.url, ROOM)
        for b in (ann, ben):
            wait_for(f"{b.name} to join with data channels ready",
                     lambda: (s := b.state) and s.get("phase") == "joined" and s.get("dataReady"), 30)
            wait_for(f"{b.name} to see the other", lambda: len(b.js("return window.starling.participants")) == 1, 20)

        # Chat through the page's own form.
        from selenium.webdriver.common.by import By
        for sender, text in ((ann, "hello from ann"), (ben, "hi ann, ben here")):
            box = sender.driver.find_element(By.ID, "chat-input")
            box.send_keys(text)
            sender.click("chat-send")
        for receiver, text, sender in ((ben, "hello from ann", "ann"), (ann, "hi ann, ben here", "ben")):
            try:
                got = wait_for(f"{receiver.name} to show {text!r}", lambda: [m for m in receiver.js("return window.starling.chat()")
                                                                            if m["text"] == text and not m["own"]], 10)
                shown = text in receiver.driver.find_element(By.ID, "chat-messages").text
                check(f"chat: {receiver.name} shows {sender}'s message", shown and got[0]["from"].startswith(sender),
                      f"from {got[0]['from']}")
            except Failure as e:
                check(f"chat: {receiver.name} shows {sender}'s message", False, str(e))

        # A 5 MB file from ann to ben; cat joins while it is on its way.
        # cat's page is loaded and its form filled before the transfer starts, so that only the join itself (ICE,
        # DTLS, SCTP) happens during the transfer, which the server's byte rate for this test keeps to several
        # seconds: a loaded machine can take as long to start a browser as the whole transfer takes.
        cat = Browser("cat")
        browsers.append(cat)
        cat.open_form(server.url, ROOM)
        data = os.urandom(FILE_BYTES)
        expected = hashlib.sha256(data).hexdigest()
        b64 = base64.b64encode(data).decode()
        ann.js("""
            const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
            window.__sent = null;
            window.starling.sendFile({name: "random.bin", bytes}).then((r) => { window.__sent = r; },
                (e) => { window.__sent = {error: String(e.message || e)}; });""", b64)
        sending_started = time.time()
        wait_for("ann's transfer to start", lambda: any(t["done"] > 0 for t in ann.js("return window.starling.transfers()")), 15, 0.1)
        cat.click("join-button")
        wait_for("cat to join with data channels ready",
                 lambda: (s := cat.state) and s.get("phase") == "joined" and s.get("dataReady"), 30)
        in_flight = not ann.js("return window.__sent")
        ann.js("window.starling.sendChat(arguments[0])", "cat, welcome")
        sent = wait_for("ann to hand over the whole file", lambda: ann.js("return window.__sent"), 60)
        check("file: ann's page sent 5 MB", "error" not in sent and sent.get("sha256") == expected,
              f"{sent} in {time.time() - sending_started:.1f} s")
        try:
            files = wait_for("ben to receive the file", lambda: ben.js("return window.starling.files()"), 60)
            f = files[0]
            link = ben.js("return !!document.querySelector('#transfers a[download]')")
            check("file: ben receives 5 MB whose SHA-256 matches the sender's and ours, and saves it",
                  f["verified"] and f["sha256"] == expected and f["size"] == FILE_BYTES and link,
                  f"{f['size']} B, sha256 {f['sha256'][:16]}…, from {f['from']}, save link {link}")
        except Failure as e:
            check("file: ben receives the file", False, str(e))
            for b in (ann, ben):
                print(f"--- {b.name}: transfers {b.js('return window.starling.transfers()')}\n{b.log_tail(20)}")
        check("file: cat joined while the file was on its way", in_flight)
        try:
            wait_for("cat to get ann's chat message", lambda: [m for m in cat.js("return window.starling.chat()")
                                                             if m["text"] == "cat, welcome"], 15)
            check("late joiner: cat gets the message sent after it joined, during the transfer", True)
        except Failure as e:
            check("late joiner: cat gets the message sent after it joined, during the transfer", False, str(e))
        progress = ben.js("return window.starling.transfers().map((t) => [t.state, t.done, t.size])")
        check("file: progress reached the whole size on both sides",
              progress and progress[0][1] == FILE_BYTES and
              all(t["done"] == FILE_BYTES for t in ann.js("return window.starling.transfers()")), f"ben {progress}")
    except Exception as e:
        check("the run completed", False, f"{type(e).__name__}: {e}")
        for b in browsers:
            try:
                print(f"--- {b.name} log ---\n{b.log_tail()}")
            except Exception:
                pass
    finally:
        cleanup()
    failed = sum(1 for _, ok, _ in results if not ok)
    if failed:
        print("--- starling log (tail) ---\n" + server.tail())
    print(f"elapsed {time.time() - started:.1f} s")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(isolated_main(__file__, __doc__, run_inner))

"""The people of bench/load/run.py, for locust: each a browser tab with its websocket open,
searching as it types over the websocket, opening documents, browsing, looking at page
images, downloading, and now and then uploading, one action every ten seconds on average
(locust's constant throughput: a fixed arrival rate, however long the answers take).

The data it needs (words, document ids, a curator's token) is in the JSON file named by
LOAD_DATA, written by run.py.
"""

import json
import os
import random
import time
import uuid
from typing import Any

import gevent
import gevent.event
import socketio
from locust import HttpUser, constant_throughput, events, task

DATA: dict[str, Any] = json.loads(open(os.environ["LOAD_DATA"]).read())  # noqa: SIM115
SEARCH_STATE = DATA["search_state"]
TYPED = f"{SEARCH_STATE}.typed"
SHOWN = "shown_for_rx_state_"
HELD = "held_note_rx_state_"
PAUSE = DATA["typing_pause_ms"] / 1000
ACTIONS_PER_SECOND = float(os.environ.get("LOAD_ACTIONS_PER_SECOND", "0.1"))


class Patron(HttpUser):
    wait_time = constant_throughput(ACTIONS_PER_SECOND)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.expected: str | None = None
        self.shown = gevent.event.Event()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("event", self._delta, namespace="/_event")
        self.sio.connect(
            f"{self.host}?token={uuid.uuid4().hex}",
            namespaces=["/_event"],
            socketio_path="/_event",
            transports=["websocket"],
            wait_timeout=30,
        )
        self._emit(DATA["hydrate"], {})

    def on_stop(self) -> None:
        self.sio.disconnect()

    def _emit(self, name: str, payload: dict[str, Any]) -> None:
        self.sio.emit(
            "event",
            # What a browser's tab on /search attaches to each event (Reflex reads the
            # page, and so its on_load handlers, from asPath).
            {
                "name": name,
                "payload": payload,
                "router_data": {"pathname": "/search", "asPath": "/search", "query": {}},
            },
            namespace="/_event",
        )

    def _delta(self, update: dict[str, Any]) -> None:
        """The page answered the text typed: its results, or (a word still being typed
        that no document has) the note saying so while the last results stay."""
        search = (update.get("delta") or {}).get(SEARCH_STATE, {})
        shown, note = search.get(SHOWN), search.get(HELD) or ""
        if self.expected is None:
            return
        if shown == self.expected or f"“{self.expected.strip()}”" in note:
            self.shown.set()

    @task(4)
    def type_a_search(self) -> None:
        """A query typed key by key (100 to 200 ms apart): the box sends it after its pause
        at each key; timed from the last key to the results of the whole text."""
        words = DATA["words"]
        text = self.rng.choice(words)
        if self.rng.random() < 0.5:
            text += " " + self.rng.choice(words)
        self.expected, started = text, 0.0
        self.shown.clear()
        for end in range(2, len(text) + 1):
            gevent.sleep(self.rng.uniform(0.1, 0.2))
            started = time.perf_counter()  # this key's moment
            gevent.sleep(PAUSE)
            self._emit(TYPED, {"text": text[:end]})
        arrived = self.shown.wait(timeout=15)
        took = (time.perf_counter() - started) * 1000
        events.request.fire(
            request_type="WS",
            name="keystroke to results",
            response_time=took,
            response_length=0,
            exception=None if arrived else TimeoutError(f"no results for {text!r}"),
            context={},
        )
        self.expected = None

    @task(3)
    def open_a_document(self) -> None:
        document = self.rng.choice(DATA["documents"])
        self.client.get(f"/api/v1/documents/{document}", name="document record")

    @task(2)
    def browse(self) -> None:
        classifier = self.rng.choice(["title", "author", "subject", "year"])
        answer = self.client.get(f"/api/v1/browse/{classifier}", name="browse entries")
        if answer.ok and answer.json()["items"]:
            key = self.rng.choice(answer.json()["items"])["key"]
            self.client.get(
                f"/api/v1/browse/{classifier}/documents",
                params={"key": key},
                name="browse documents",
            )

    @task(2)
    def look_at_a_page(self) -> None:
        document = self.rng.choice(DATA["files"])
        self.client.get(f"/api/v1/documents/{document}/pages/1.webp", name="page image")

    @task(1)
    def download(self) -> None:
        document = self.rng.choice(DATA["files"])
        self.client.get(f"/api/v1/documents/{document}/download", name="download")

    @task(1)
    def upload(self) -> None:
        if self.rng.random() > 0.2:  # one person in five who act this way uploads
            return
        body = f"A note written under load, {uuid.uuid4().hex}.\n".encode() * 50
        self.client.post(
            f"/api/v1/collections/{DATA['collection']}/documents",
            params={"filename": "note.txt"},
            data=body,
            headers={"Authorization": f"Bearer {DATA['token']}", "Content-Type": "text/plain"},
            name="upload",
        )

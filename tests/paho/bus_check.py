"""Drives a running b00t bus with paho-mqtt, a client library nobody here wrote.

Usage: python3 bus_check.py PORT
Exits 0 when every check passes; otherwise prints what failed and exits 1.
"""

import json
import queue
import sys
import time
import uuid

import paho.mqtt.client as mqtt

TIMEOUT_S = 15


def main(port: int) -> None:
    inbox: "queue.Queue[tuple[str, bytes, bool]]" = queue.Queue()
    subscribed = queue.Queue()
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"paho-check-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    client.on_message = lambda c, u, m: inbox.put((m.topic, m.payload, m.retain))
    client.on_subscribe = lambda c, u, mid, codes, props: subscribed.put(mid)
    client.connect("127.0.0.1", port)
    client.loop_start()
    reply = f"b00t.paho-{uuid.uuid4().hex[:6]}.reply"
    _, mid = client.subscribe([(f"{reply}/#", 1), ("b00t.echo/status", 1)])
    subscribed.get(timeout=TIMEOUT_S)

    def wait_for(predicate, what):
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                topic, payload, retain = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if predicate(topic, payload, retain):
                return topic, payload, retain
        fail(f"no {what} within {TIMEOUT_S} s")

    # The echo agent's retained card is online.
    _, card, retained = wait_for(lambda t, p, r: t == "b00t.echo/status", "status card")
    card = json.loads(card)
    check(retained, "the status card is retained")
    check(card["state"] == "online" and card["skills"] == ["echo"], f"card {card}")

    # A QoS 1 task with reply_to: ack, then result, on the reply base.
    task = {"id": "paho-1", "from": "paho", "reply_to": reply, "body": {"n": 7}}
    client.publish("b00t.echo.echo/task", json.dumps(task), qos=1).wait_for_publish(TIMEOUT_S)
    _, ack, _ = wait_for(lambda t, p, r: t == f"{reply}/ack", "ack")
    check(json.loads(ack)["id"] == "paho-1", f"ack {ack!r}")
    _, result, _ = wait_for(lambda t, p, r: t == f"{reply}/result", "result")
    result = json.loads(result)
    check(result["ok"] is True and result["body"]["echo"] == {"n": 7}, f"result {result}")

    # A QoS 2 publish reaches the agent too (delivered to it at QoS 1).
    task = {"id": "paho-2", "reply_to": reply, "body": "qos2"}
    client.publish("b00t.echo.echo/task", json.dumps(task), qos=2).wait_for_publish(TIMEOUT_S)
    wait_for(lambda t, p, r: t == f"{reply}/result" and b"paho-2" in p, "result of a QoS 2 task")

    # A wrong field type is answered on the reply base with bad_request.
    client.publish("b00t.echo.echo/task", json.dumps({"id": "paho-3", "reply_to": reply, "ts": 1}), qos=1)
    _, error, _ = wait_for(lambda t, p, r: t == f"{reply}/error", "error")
    error = json.loads(error)
    check(error["error"]["code"] == "bad_request" and error["id"] == "paho-3", f"error {error}")

    client.loop_stop()
    client.disconnect()
    print("paho: 4 checks passed")


def check(ok: bool, what: str) -> None:
    if not ok:
        fail(what)


def fail(what: str) -> None:
    print(f"paho check failed: {what}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main(int(sys.argv[1]))

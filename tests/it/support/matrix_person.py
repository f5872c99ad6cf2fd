#!/usr/bin/env python3
"""A person on Matrix, played by matrix-nio (a client library nobody here wrote), for the
Matrix bridge's tests: logs in with a password, keeps syncing, and answers one JSON
command a line on stdin with one JSON line on stdout.

    python3 matrix_person.py <homeserver> <user id> <password>

Commands (`op`): `create_room` (name, invite: [user ids]) -> room_id; `send` (room,
body, optional thread: the root event id, optional mention: a user id put in
m.mentions) -> event_id; `wait` (room, sender, count, timeout in s, optional type:
m.room.message (the default) or m.room.member) -> events: the first `count` events of
that type from that sender in that room, as the homeserver sent them; `list` (room,
sender, optional type) -> events: all of them so far; `quit`. A failure
answers {"error": "..."}. The first line printed is {"ready": true, "user_id": ...}.
"""

import asyncio
import json
import sys

from nio import AsyncClient, AsyncClientConfig, Event, RoomCreateResponse, RoomSendResponse


async def main(homeserver, user_id, password):
    config = AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False)
    client = AsyncClient(homeserver, user_id, config=config)
    login = await client.login(password)
    if not getattr(login, "access_token", None):
        print(json.dumps({"error": f"login failed: {login}"}), flush=True)
        return
    seen = []
    ids = set()

    async def on_event(room, event):
        source = dict(event.source)
        if source.get("event_id") in ids:
            return
        ids.add(source.get("event_id"))
        source["room_id"] = room.room_id
        seen.append(source)

    client.add_event_callback(on_event, Event)
    syncing = asyncio.create_task(client.sync_forever(timeout=500, full_state=True))
    print(json.dumps({"ready": True, "user_id": client.user_id}), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                command = json.loads(line)
                answer = await run(client, seen, command)
            except Exception as e:  # every failure is answered, never a dead pipe
                answer = {"error": f"{type(e).__name__}: {e}"}
            print(json.dumps(answer), flush=True)
            if command.get("op") == "quit":
                break
    finally:
        syncing.cancel()
        await client.close()


async def run(client, seen, command):
    op = command["op"]
    if op == "create_room":
        created = await client.room_create(name=command.get("name"), invite=command.get("invite", []))
        if not isinstance(created, RoomCreateResponse):
            return {"error": f"room_create: {created}"}
        return {"room_id": created.room_id}
    if op == "send":
        content = {"msgtype": "m.text", "body": command["body"]}
        if command.get("thread"):
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": command["thread"],
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": command["thread"]},
            }
        if command.get("mention"):
            content["m.mentions"] = {"user_ids": [command["mention"]]}
        sent = await client.room_send(command["room"], "m.room.message", content)
        if not isinstance(sent, RoomSendResponse):
            return {"error": f"room_send: {sent}"}
        return {"event_id": sent.event_id}
    if op == "wait":
        kind = command.get("type", "m.room.message")
        deadline = asyncio.get_running_loop().time() + float(command.get("timeout", 30))
        while True:
            found = [
                e for e in seen
                if e.get("room_id") == command["room"]
                and e.get("sender") == command["sender"]
                and e.get("type") == kind
            ]
            if len(found) >= int(command["count"]):
                return {"events": found[: int(command["count"])]}
            if asyncio.get_running_loop().time() > deadline:
                return {"error": f"timed out: {len(found)} of {command['count']} {kind} from {command['sender']}", "events": found}
            await asyncio.sleep(0.05)
    if op == "list":
        kind = command.get("type", "m.room.message")
        return {"events": [
            e for e in seen
            if e.get("room_id") == command["room"]
            and e.get("sender") == command["sender"]
            and e.get("type") == kind
        ]}
    if op == "quit":
        return {"bye": True}
    return {"error": f"unknown op {op!r}"}


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

"""An MCP client for tests/it/mcp_serve.rs, written with the official Python MCP SDK
(`mcp` from PyPI): it connects to `b00t mcp serve` over stdio (argv: stdio B00T ARGS...)
or streamable HTTP (argv: http URL), then initializes, lists the tools, calls send_task
on the echo agent with a progress token, calls install on a datum the whitelist does not
allow, and reads the agent cards. It prints one JSON object with what it saw.

With `listen` first (argv: listen stdio B00T ARGS...), it instead listens
(`subscriptions/listen`) to `b00t://agents/late`, `b00t://agents` and the resource
list, prints `listening` once the server acknowledged, and then the events it got (until
it has an update of `b00t://agents/late` and a list change, or 30 s). With `subscribe`
first, the same through `resources/subscribe`, as clients before 2026-07-28 do."""

import json
import sys

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def attr(obj, snake, camel):
    # mcp 2 names fields in snake_case, mcp 1 in camelCase.
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def drive(read, write):
    seen = {}
    async with ClientSession(read, write) as session:
        init = await session.initialize()
        seen["server"] = attr(init, "server_info", "serverInfo").name
        tools = await session.list_tools()
        seen["tools"] = sorted(tool.name for tool in tools.tools)
        progress = []

        async def on_progress(value, total, message):
            progress.append(message)

        echo = await session.call_tool(
            "send_task",
            {"address": "b00t.echo.echo", "body": {"hello": "mcp"}, "timeout_ms": 10000},
            progress_callback=on_progress,
        )
        seen["echo"] = {"is_error": bool(attr(echo, "is_error", "isError")), "reply": json.loads(text_of(echo))}
        seen["progress"] = progress
        bad = await session.call_tool("send_task", {"address": "b00t.echo", "body": 1})
        seen["bad_address"] = {"is_error": bool(attr(bad, "is_error", "isError")), "text": text_of(bad)}
        refused = await session.call_tool("install", {"datum": "unapproved-tool"})
        seen["install"] = {"is_error": bool(attr(refused, "is_error", "isError")), "text": text_of(refused)}
        resources = await session.list_resources()
        seen["resources"] = sorted(str(r.uri) for r in resources.resources)
        cards = await session.read_resource("b00t://agents/echo")
        seen["echo_card"] = json.loads(cards.contents[0].text)
    return seen


async def listen_for_late(read, write):
    from mcp.client.subscriptions import ResourcesListChanged, ResourceUpdated, listen

    seen = {"updated": [], "list_changed": 0}
    async with ClientSession(read, write) as session:
        # `subscriptions/listen` is 2026-07-28's: negotiated by `server/discover`.
        await session.discover()
        seen["protocol"] = str(session.protocol_version)
        uris = ["b00t://agents/late", "b00t://agents", "b00t://nothing"]
        async with listen(session, resources_list_changed=True, resource_subscriptions=uris) as sub:
            seen["honored"] = sorted(sub.honored.resource_subscriptions or [])
            print("listening", flush=True)
            with anyio.move_on_after(30):
                async for event in sub:
                    if isinstance(event, ResourceUpdated):
                        seen["updated"].append(str(event.uri))
                    elif isinstance(event, ResourcesListChanged):
                        seen["list_changed"] += 1
                    if "b00t://agents/late" in seen["updated"] and seen["list_changed"]:
                        break
        card = await session.read_resource("b00t://agents/late")
        seen["late_card"] = json.loads(card.contents[0].text)
    return seen


async def subscribe_to_late(read, write):
    """The same through a client before 2026-07-28: `resources/subscribe`."""
    seen = {"updated": []}
    got = anyio.Event()

    async def on_message(message):
        notification = getattr(message, "root", message)
        if type(notification).__name__ == "ResourceUpdatedNotification":
            seen["updated"].append(str(notification.params.uri))
            got.set()

    async with ClientSession(read, write, message_handler=on_message) as session:
        await session.initialize()
        seen["protocol"] = str(session.protocol_version)
        await session.subscribe_resource("b00t://agents/late")
        try:
            await session.subscribe_resource("b00t://nothing")
            seen["bad_uri"] = "accepted"
        except Exception as e:  # the SDK raises McpError
            seen["bad_uri"] = str(e)
        print("listening", flush=True)
        with anyio.move_on_after(30):
            await got.wait()
        await session.unsubscribe_resource("b00t://agents/late")
        card = await session.read_resource("b00t://agents/late")
        seen["late_card"] = json.loads(card.contents[0].text)
    return seen


async def main():
    if sys.argv[1] == "subscribe":
        params = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:])
        async with stdio_client(params) as (read, write):
            seen = await subscribe_to_late(read, write)
    elif sys.argv[1] == "listen":
        params = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:])
        async with stdio_client(params) as (read, write):
            seen = await listen_for_late(read, write)
    elif sys.argv[1] == "stdio":
        params = StdioServerParameters(command=sys.argv[2], args=sys.argv[3:])
        async with stdio_client(params) as (read, write):
            seen = await drive(read, write)
    else:
        async with streamable_http_client(sys.argv[2]) as (read, write):
            seen = await drive(read, write)
    print(json.dumps(seen))


anyio.run(main)

"""Read the kernel's messages off the browser's websocket.

JupyterLab shows a cell's errors in the cell, but an exception raised in a widget callback (a
button's ``on_click``) only reaches the Log Console, which nobody opens. Listening to the kernel
websocket catches both. Frames use either the ``v1.kernel.websocket.jupyter.org`` binary framing
(jupyter_server's ``serialize_msg_to_ws_v1``: a count, offsets, the channel name, then header,
parent header, metadata, content, buffers) or the legacy JSON framing; both are read here.
Message types and contents: the Jupyter messaging spec,
https://jupyter-client.readthedocs.io/en/stable/messaging.html
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def decode_frame(payload: bytes | str) -> tuple[str, dict] | None:
    """``(channel, message)`` of one websocket frame; ``None`` for frames that are not kernel
    messages (e.g. the server's event stream)."""
    if isinstance(payload, str):  # legacy protocol: one JSON document with a "channel" key
        try:
            msg = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(msg, dict) or "channel" not in msg or "header" not in msg:
            return None
        return msg["channel"], msg
    n_offsets = int.from_bytes(payload[:8], "little")
    if n_offsets < 6 or len(payload) < 8 * (n_offsets + 1):
        return None
    offsets = [int.from_bytes(payload[8 * (i + 1): 8 * (i + 2)], "little")
               for i in range(n_offsets)]
    parts = [payload[offsets[i]: offsets[i + 1]] for i in range(n_offsets - 1)]
    try:
        channel = parts[0].decode()
        header, parent, metadata, content = (json.loads(part) for part in parts[1:5])
    except (UnicodeDecodeError, ValueError):
        return None
    return channel, {"header": header, "parent_header": parent, "metadata": metadata,
                     "content": content, "channel": channel}


@dataclass
class KernelLog:
    """Everything the kernels sent to this page that the checks need."""

    errors: list[str] = field(default_factory=list)  # one line per error / traceback on stderr
    widget_state: dict[str, dict] = field(default_factory=dict)  # comm id -> latest state
    displayed: list[str] = field(default_factory=list)  # model ids shown as widget views
    n_messages: int = 0

    def on_frame(self, payload: bytes | str) -> None:
        decoded = decode_frame(payload)
        if decoded is None or decoded[0] != "iopub":
            return
        self.n_messages += 1
        msg = decoded[1]
        kind, content = msg["header"].get("msg_type"), msg.get("content") or {}
        origin = (msg.get("parent_header") or {}).get("msg_type") or "no parent"
        if kind == "error":
            where = "a widget callback" if origin == "comm_msg" else origin
            last = (content.get("traceback") or [""])[-1]
            self.errors.append(f"{content.get('ename')}: {content.get('evalue')} (from {where}; "
                               f"{_strip_ansi(last)[:200]})")
        elif kind == "stream" and content.get("name") == "stderr" \
                and "Traceback (most recent call last)" in content.get("text", ""):
            where = "a widget callback" if origin == "comm_msg" else origin
            tail = content["text"].strip().splitlines()[-1]
            self.errors.append(f"traceback on stderr (from {where}): {tail[:200]}")
        elif kind == "status" and content.get("execution_state") in ("restarting", "dead"):
            # jupyter_server's synthetic status when a kernel dies (e.g. out of memory)
            self.errors.append(f"the kernel died or restarted "
                               f"(execution_state {content['execution_state']!r})")
        elif kind == "comm_open":
            state = (content.get("data") or {}).get("state") or {}
            self.widget_state[content.get("comm_id")] = dict(state)
        elif kind == "comm_msg":
            data = content.get("data") or {}
            if data.get("method") in ("update", "echo_update") and content.get("comm_id") in \
                    self.widget_state:
                self.widget_state[content["comm_id"]].update(data.get("state") or {})
        elif kind == "comm_close":  # e.g. tqdm's bar with leave=False closes its widgets
            self.widget_state.pop(content.get("comm_id"), None)
        elif kind in ("display_data", "execute_result", "update_display_data"):
            view = (content.get("data") or {}).get(WIDGET_VIEW)
            if view and view.get("model_id"):
                self.displayed.append(view["model_id"])

    def displayed_models(self) -> set[str]:
        """Model class names (``_model_name``) of every displayed widget and, recursively,
        of the ``children`` of displayed boxes (latest state; closed or hidden ones left out)."""
        names, seen = set(), set()
        stack = list(self.displayed)
        while stack:
            model_id = stack.pop()
            if model_id in seen or model_id not in self.widget_state:
                continue
            seen.add(model_id)
            state = self.widget_state[model_id]
            if self._hidden(state):
                continue
            names.add(state.get("_model_name", "?"))
            for child in state.get("children") or []:
                if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                    stack.append(child[len("IPY_MODEL_"):])
        return names

    def _hidden(self, state: dict) -> bool:
        """Whether a widget's layout hides it (``display: none`` / ``visibility: hidden``)."""
        layout = state.get("layout")
        if not (isinstance(layout, str) and layout.startswith("IPY_MODEL_")):
            return False
        layout_state = self.widget_state.get(layout[len("IPY_MODEL_"):], {})
        return layout_state.get("display") == "none" or layout_state.get("visibility") == "hidden"


def _strip_ansi(text: str) -> str:
    """Drop terminal colour codes from an IPython traceback line."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)

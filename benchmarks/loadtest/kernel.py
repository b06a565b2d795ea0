"""Drive one student's kernel through the hub's proxy: the Jupyter server REST API to start it,
its websocket (``/api/kernels/<id>/channels``, Jupyter messaging protocol 5.3) to run code."""
from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field

import websocket  # websocket-client


class KernelError(RuntimeError):
    """The code raised, the kernel died, or it did not answer in time."""


@dataclass
class _Reply:
    """What the kernel has answered to one execute request so far."""
    stdout: list[str] = field(default_factory=list)
    error: str | None = None
    replied: bool = False
    idle: bool = False


@dataclass
class Kernel:
    hub: object  # benchmarks/loadtest/hub.Hub
    user: str
    kernel_id: str = ""
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    ws: websocket.WebSocket | None = None

    def start(self, timeout: float = 300.0) -> float:
        """Start a python3 kernel and open its websocket; returns the seconds until the kernel
        answered a first (empty) execute request."""
        t0 = time.monotonic()
        kernel = self.hub.request(f"/user/{self.user}/api/kernels", method="POST",
                                  body={"name": "python3"}, timeout=timeout)
        self.kernel_id = kernel["id"]
        self.execute("pass", timeout=timeout)
        return time.monotonic() - t0

    def _connect(self, timeout: float) -> None:
        url = (
            self.hub.url.replace("http://", "ws://")
            + f"/user/{self.user}/api/kernels/{self.kernel_id}/channels?session_id={self.session}"
        )
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {self.hub.token}"], timeout=timeout)

    def execute(self, code: str, timeout: float = 600.0) -> tuple[float, str]:
        """Run ``code`` over a websocket opened for it (an idle websocket would miss the server's
        pings and be closed, like a browser tab that reconnects); returns (seconds, stdout).
        Raises ``KernelError`` on an error."""
        self._connect(timeout)
        try:
            return self._execute(code, timeout)
        finally:
            self.ws.close()

    def _execute(self, code: str, timeout: float) -> tuple[float, str]:
        msg_id = self._send_execute_request(code)
        t0 = time.monotonic()
        deadline = t0 + timeout
        reply = _Reply()
        while not (reply.replied and reply.idle):
            msg = self._next_message(deadline, timeout)
            if msg is not None and msg.get("parent_header", {}).get("msg_id") == msg_id:
                self._take(msg, reply)
        seconds = time.monotonic() - t0
        if reply.error:
            raise KernelError(f"{self.user}: {reply.error}")
        return seconds, "".join(reply.stdout)

    def _send_execute_request(self, code: str) -> str:
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.user, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3",
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        return msg_id

    def _next_message(self, deadline: float, timeout: float) -> dict | None:
        """The next text frame as a message, None for a binary one (buffers: nothing we wait
        for); raises ``KernelError`` past the deadline or when the websocket closes."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise KernelError(f"{self.user}: no answer within {timeout:.0f} s")
        self.ws.settimeout(left)
        try:
            frame = self.ws.recv()
        except websocket.WebSocketTimeoutException as exc:
            raise KernelError(f"{self.user}: no answer within {timeout:.0f} s") from exc
        except (websocket.WebSocketException, OSError) as exc:
            raise KernelError(f"{self.user}: websocket closed ({exc}): the kernel died?") from exc
        if frame == "":  # websocket-client's answer to a close frame
            raise KernelError(f"{self.user}: the server closed the websocket")
        return json.loads(frame) if isinstance(frame, str) else None

    def _take(self, msg: dict, reply: _Reply) -> None:
        """Record one message answering our request in ``reply``."""
        kind, content = msg["msg_type"], msg.get("content", {})
        if kind == "stream" and content.get("name") == "stdout":
            reply.stdout.append(content.get("text", ""))
        elif kind == "error":
            reply.error = f"{content.get('ename')}: {content.get('evalue')}"
        elif kind == "execute_reply":
            reply.replied = True
            if content.get("status") != "ok" and reply.error is None:
                reply.error = f"execute_reply status {content.get('status')}"
        elif kind == "status" and content.get("execution_state") == "idle":
            reply.idle = True
        elif kind == "status" and content.get("execution_state") == "dead":
            raise KernelError(f"{self.user}: the kernel died")

    def close(self, shutdown: bool = True) -> None:
        """Close the websocket; ``shutdown`` also stops the kernel (else its server does)."""
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            if self.kernel_id and shutdown:
                # the server may be gone; hub.stop() is the backstop
                with contextlib.suppress(OSError, ValueError):
                    self.hub.request(f"/user/{self.user}/api/kernels/{self.kernel_id}",
                                     method="DELETE", timeout=30)

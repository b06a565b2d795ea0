"""Drive one student's kernel through the hub's proxy: the Jupyter server REST API to start it,
its websocket (``/api/kernels/<id>/channels``, Jupyter messaging protocol 5.3) to run code."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import websocket  # websocket-client


class KernelError(RuntimeError):
    """The code raised, the kernel died, or it did not answer in time."""


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
        url = (self.hub.url.replace("http://", "ws://")
               + f"/user/{self.user}/api/kernels/{self.kernel_id}/channels?session_id={self.session}")
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
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": self.user, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3",
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        t0 = time.monotonic()
        deadline = t0 + timeout
        stdout, error, replied, idle = [], None, False, False
        while not (replied and idle):
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
            if not isinstance(frame, str):
                continue  # a binary frame (buffers): nothing we wait for
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg.get("content", {})
            if kind == "stream" and content.get("name") == "stdout":
                stdout.append(content.get("text", ""))
            elif kind == "error":
                error = f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "execute_reply":
                replied = True
                if content.get("status") != "ok" and error is None:
                    error = f"execute_reply status {content.get('status')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "status" and content.get("execution_state") == "dead":
                raise KernelError(f"{self.user}: the kernel died")
        seconds = time.monotonic() - t0
        if error:
            raise KernelError(f"{self.user}: {error}")
        return seconds, "".join(stdout)

    def close(self, shutdown: bool = True) -> None:
        """Close the websocket; ``shutdown`` also stops the kernel (else its server does)."""
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            if self.kernel_id and shutdown:
                try:
                    self.hub.request(f"/user/{self.user}/api/kernels/{self.kernel_id}",
                                     method="DELETE", timeout=30)
                except (OSError, ValueError):  # the server may be gone; hub.stop() is the backstop
                    pass

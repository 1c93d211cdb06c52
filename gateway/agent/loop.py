"""The data scientist: a model that writes Python, runs it in the chat's sandbox through the
`run_python` tool, reads the outcome and goes on until it can answer. A second tool,
`install_packages`, installs packages from the operator's store into the chat (journaled as a
`packages` record of its own, and announced to a stream as a `packages` event).

Every query is one history record (a `QueryRecord`) with all its steps, journaled and finished
by `gateway.runs.lifecycle`; `emit` reports progress as it happens (the streaming route turns it
into Server-Sent Events).
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel

from gateway.agent.llm import LLM, ToolCall
from gateway.agent.prompts import clip_middle, current_uploads, history_messages, system_prompt
from gateway.chats.journal import HistoryRecord, QueryRecord, StepRecord
from gateway.chats.store import Chat, ChatStore
from gateway.quotas import Quotas
from gateway.runs.code import (
    DEFAULT_OPTIONS,
    CodeResult,
    QueryService,
    ResultBuilder,
    RunOptions,
    journal_form,
)
from gateway.runs.lifecycle import journaled_run
from gateway.runs.stops import RunStops
from gateway.sandbox.packages import PackageService, parse_all
from gateway.sandbox.state import SessionService
from gateway.settings import Settings
from shared.errors import AppError, ErrorCode, ServiceUnavailable
from shared.protocol import DisplayEvent, ErrorEvent, FileChange, StreamEvent, VariableValue

RUN_PYTHON = {
    "type": "function",
    "function": {
        "name": "run_python",
        "description": (
            "Run Python code in the chat's persistent sandbox (working directory /workspace, "
            "no network). Returns stdout, stderr, the last expression's value, errors with "
            "their traceback, and the files the code created or changed."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "Python source to run"}},
            "required": ["code"],
        },
    },
}

INSTALL_PACKAGES = {
    "type": "function",
    "function": {
        "name": "install_packages",
        "description": (
            "Install Python packages into the chat's sandbox from the server's package store "
            "(only packages it offers; there is no network). They stay installed for this chat "
            "and can be imported at once."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "packages": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "names, each optionally with ==version: ['lifelines']",
                }
            },
            "required": ["packages"],
        },
    },
}
TOOLS = [RUN_PYTHON, INSTALL_PACKAGES]

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class Step(CodeResult):
    code: str


class AgentReply(BaseModel):
    chat_id: str
    message_id: str
    query: str
    # "step_limit": the model was still working when LLM_MAX_STEPS ran out.
    status: Literal["answered", "step_limit"]
    answer: str
    steps: list[Step] = []
    files: list[FileChange] = []
    variables_changed: list[str] = []
    usage: dict[str, int] = {}
    model: str
    duration_ms: float


class Agent:
    def __init__(
        self,
        llm: LLM | None,
        chats: ChatStore,
        queries: QueryService,
        sessions: SessionService,
        settings: Settings,
        stops: RunStops,
        packages: PackageService,
        quotas: Quotas,
    ) -> None:
        self._llm = llm
        self._packages = packages
        self._stops = stops
        self._quotas = quotas
        self._chats = chats
        self._queries = queries
        self._sessions = sessions
        self._settings = settings

    async def answer(
        self, chat: Chat, query: str, emit: Emit, options: RunOptions = DEFAULT_OPTIONS
    ) -> AgentReply:
        """Answer a natural-language query, holding the chat's query lock throughout; every
        cell the model runs gets the run's `options`."""
        if self._llm is None:
            raise ServiceUnavailable(
                "no LLM is configured: set LLM_MODEL and OPENAI_API_KEY (for OpenAI or Azure) or "
                'OPENAI_BASE_URL (for a local server such as Ollama); {"code": "..."} still runs '
                "Python directly",
                ErrorCode.LLM_NOT_CONFIGURED,
            )
        # Before the run is journaled, so a user past a quota is answered 429.
        await self._quotas.check_llm_tokens(chat.user_id)
        await self._quotas.room_for_sandbox(chat)
        s = self._settings
        ttl_s = s.llm_max_steps * (options.cell_timeout_s(s) + s.llm_timeout_s) + 120
        record = QueryRecord(query=query)
        async with journaled_run(self._chats, chat, record, ttl_s, query, self._stops):
            history = [r for r in await self._chats.messages(chat.chat_id) if r.id != record.id]
            steps: list[Step] = []
            try:
                reply = await self._loop(chat, query, record.id, history, steps, emit, options)
            finally:
                # However the query ends, its record keeps the steps it got to.
                record.steps = [journal_form(step, StepRecord) for step in steps]
            record.answer = reply.answer
            record.answer_status = reply.status
            record.usage = reply.usage
        return reply

    async def _loop(
        self,
        chat: Chat,
        query: str,
        message_id: str,
        history: list[HistoryRecord],
        steps: list[Step],
        emit: Emit,
        options: RunOptions,
    ) -> AgentReply:
        assert self._llm is not None
        started = time.perf_counter()
        context = await self._context(chat, history, options.cell_timeout_s(self._settings))
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": context},
            *history_messages(history, self._settings.llm_history_budget_chars),
            {"role": "user", "content": query},
        ]
        usage: dict[str, int] = {}

        async def on_text(delta: str) -> None:
            await emit("answer", {"delta": delta})

        for _ in range(self._settings.llm_max_steps):
            completion = await self._llm.complete(messages, TOOLS, on_text)
            await self._quotas.count_llm_tokens(chat.user_id, completion.usage)
            for key, value in completion.usage.items():
                usage[key] = usage.get(key, 0) + value
            messages.append(completion.as_message())
            if not completion.tool_calls:
                return self._reply(
                    chat, query, message_id, "answered", completion.content, steps, usage, started
                )
            for call in completion.tool_calls:
                content = await self._run_tool(chat, call, message_id, steps, emit, options)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        answer = (
            f"I stopped after {self._settings.llm_max_steps} model turns (LLM_MAX_STEPS) without "
            "finishing. The steps so far are below; ask me to continue, or narrow the question."
        )
        await emit("answer", {"delta": answer})
        return self._reply(chat, query, message_id, "step_limit", answer, steps, usage, started)

    async def _run_tool(
        self,
        chat: Chat,
        call: ToolCall,
        message_id: str,
        steps: list[Step],
        emit: Emit,
        options: RunOptions,
    ) -> str:
        """Run one tool call and return what the model is told about it. Malformed calls are
        explained to the model, which can then correct itself."""
        if call.name == "install_packages":
            return await self._install(chat, call, emit)
        code, problem = _code_of(call)
        if problem:
            return f"error: {problem}"
        number = len(steps) + 1
        await emit("step_started", {"step": number})
        await emit("code", {"step": number, "code": code})

        # What the step showed so far, kept for the history if the client leaves mid-step.
        partial = ResultBuilder(
            Step(code=code, chat_id=chat.chat_id, message_id=message_id, status="interrupted")
        )

        async def on_event(event: StreamEvent | DisplayEvent | ErrorEvent) -> None:
            partial.add(event)
            await emit("output", {"step": number, **event.model_dump(mode="json")})

        try:
            result = await self._queries.execute(chat, code, message_id, on_event, options)
        except asyncio.CancelledError:
            steps.append(partial.result())
            raise
        for change in result.files:
            await emit("file", {"step": number, **change.model_dump(mode="json")})
        step = Step(code=code, **result.model_dump())
        steps.append(step)
        return _report(step, self._settings.llm_tool_output_chars)

    async def _install(self, chat: Chat, call: ToolCall, emit: Emit) -> str:
        """The install_packages tool: the query holds the chat's lock already."""
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as e:
            return f'error: the arguments are not valid JSON ({e}); send {{"packages": [...]}}'
        entries = arguments.get("packages") if isinstance(arguments, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            return 'error: the arguments must be a JSON object with a list of strings "packages"'
        try:
            result = await self._packages.install_locked(chat, parse_all(entries))
        except AppError as e:
            await emit("packages", {"requested": entries, "error": e.detail})
            return f"error: {e.detail}"
        await emit("packages", result.model_dump(mode="json", include={"installed", "satisfied"}))
        installed = ", ".join(f"{p.name}=={p.version}" for p in result.installed) or "nothing new"
        lines = [f"installed: {installed}"]
        if result.satisfied:
            lines.append(f"already installed: {', '.join(result.satisfied)}")
        if result.disk is not None and result.disk.warning:
            lines.append(f"warning: {result.disk.warning}")
        return "\n".join(lines)

    async def _context(
        self, chat: Chat, history: list[HistoryRecord], cell_timeout_s: float
    ) -> str:
        variables = (await self._sessions.variables(chat)).variables
        frames: dict[str, VariableValue] = {}
        for var in [v for v in variables if v.type.endswith("DataFrame")][:8]:
            try:
                frames[var.name] = await self._sessions.variable(chat, var.name, 0, 1)
            except AppError:
                continue  # gone or unreadable since it was listed: describe it without columns
        files = (await self._sessions.list_files(chat)).files
        uploads = current_uploads(history)
        installed = [f"{p.name}=={p.version}" for p in await self._packages.installed(chat)]
        installable = [p.name for p in await self._packages.store()]
        return system_prompt(
            cell_timeout_s,
            variables,
            frames,
            files,
            uploads,
            installed,
            installable,
        )

    def _reply(
        self,
        chat: Chat,
        query: str,
        message_id: str,
        status: Literal["answered", "step_limit"],
        answer: str,
        steps: list[Step],
        usage: dict[str, int],
        started: float,
    ) -> AgentReply:
        files: dict[str, FileChange] = {}
        changed: list[str] = []
        for step in steps:
            files.update({change.path: change for change in step.files})
            changed += [name for name in step.variables_changed if name not in changed]
        return AgentReply(
            chat_id=chat.chat_id,
            message_id=message_id,
            query=query,
            status=status,
            answer=answer,
            steps=steps,
            files=list(files.values()),
            variables_changed=changed,
            usage=usage,
            model=self._llm.model if self._llm else "",
            duration_ms=(time.perf_counter() - started) * 1000,
        )


def _code_of(call: ToolCall) -> tuple[str, str | None]:
    if call.name != "run_python":
        return "", f"there is no tool '{call.name}'; the tools are run_python and install_packages"
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as e:
        return "", f'the arguments are not valid JSON ({e}); send {{"code": "..."}}'
    if not isinstance(arguments, dict) or not isinstance(arguments.get("code"), str):
        return "", 'the arguments must be a JSON object with a string "code"'
    if not arguments["code"].strip():
        return "", "the code is empty"
    return arguments["code"], None


def _report(step: Step, limit: int) -> str:
    """The tool result the model reads: what a person would look at, cut to `limit`."""
    lines = [f"status: {step.status} ({step.duration_ms / 1000:.2f} s)"]
    if step.stdout:
        lines.append("stdout:\n" + clip_middle(step.stdout, limit // 2))
    if step.stderr:
        lines.append("stderr:\n" + clip_middle(step.stderr, limit // 4))
    if step.result is not None:
        lines.append("value: " + clip_middle(step.result, limit // 4))
    if step.error is not None:
        trace = "\n".join(step.error.traceback[-30:])
        lines.append(
            f"error: {step.error.ename}: {step.error.evalue}\n{clip_middle(trace, limit // 4)}"
        )
    if step.files:
        lines.append("files: " + ", ".join(f"{f.path} ({f.change})" for f in step.files))
    if step.kernel.restarted:
        lines.append(f"note: the kernel restarted: {step.kernel.reason}")
    if step.disk is not None and step.disk.warning:
        lines.append(f"warning: {step.disk.warning}")
    return "\n".join(lines)

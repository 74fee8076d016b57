"""Optional LLM backend: any OpenAI-compatible ``/chat/completions`` endpoint.

Off by default (``llm.enabled: false`` in ``config/language.yaml``); the URL,
model and the *name* of the environment variable holding the API key come
from that file.  The model is asked for exactly the three answer shapes, and
its reply is validated against them (ShotSpec included) -- an answer that does
not validate is an :class:`LlmError`, never passed on.  Control words never
reach the model: the rule-based parser reads them first.
"""

from __future__ import annotations

import json
import os
import re

import httpx
from pydantic import ValidationError

from cinempc.language.answers import Answer, answer_from_json
from cinempc.language.lexicon import LlmSettings
from cinempc.shot import ShotSpec, describe_validation_error

MAX_REPLY_BYTES = 256_000  # a reply larger than this is not a shot list

SYSTEM_PROMPT = """You turn a film director's spoken drone-camera command into JSON.
Answer with ONE JSON object and nothing else, in exactly one of these three shapes:
  {{"shots": [ShotSpec, ...]}}            one or more shots, in order ("..., then ...")
  {{"command": "hold"|"resume"|"abort"}}  control words
  {{"error": {{"message": str, "not_understood": [words], "suggestions": {{word: [terms]}},
              "examples": [str], "confidence": 0..1}}}}  when any word that matters cannot be expressed
A ShotSpec follows this JSON Schema:
{schema}
Relative edits ("tighter", "slower", "lower", "more to the left") change the current shot, which is:
{current}
Subjects the director has named: {subjects}. "her/him/them" mean the current subjects; "everyone" is "all";
"#3" is track 3. Never invent values for words you do not understand: report them in an error."""


class LlmError(RuntimeError):
    """The LLM endpoint failed or answered something that is not a valid answer."""


def parse_with_llm(text: str, settings: LlmSettings, current: ShotSpec | None = None,
                   known_subjects: list[str] | None = None, client: httpx.Client | None = None) -> Answer:
    """Ask the configured endpoint; the validated answer or :class:`LlmError`."""
    if not settings.url:
        raise LlmError("llm.url is empty in config/language.yaml")
    prompt = SYSTEM_PROMPT.format(
        schema=json.dumps(ShotSpec.model_json_schema(), separators=(",", ":")),
        current=(current or ShotSpec()).model_dump_json(),
        subjects=", ".join(known_subjects or []) or "none",
    )
    body = {
        "model": settings.model,
        "temperature": 0,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": text}],
    }
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(settings.api_key_env, "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = settings.url.rstrip("/") + "/chat/completions"
    own = client is None
    client = client or httpx.Client(timeout=settings.timeout_s)
    try:
        response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise LlmError(f"{url}: {type(exc).__name__}: {exc}") from exc
    finally:
        if own:
            client.close()
    if response.status_code != 200:
        raise LlmError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    if len(response.content) > MAX_REPLY_BYTES:
        raise LlmError(f"{url}: reply of {len(response.content)} bytes is too large")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LlmError(f"{url}: not an OpenAI-style chat completion ({type(exc).__name__}: {exc})") from exc
    return validate_reply(content)


def validate_reply(content: object) -> Answer:
    """The model's message content as a validated answer (code fences tolerated), else :class:`LlmError`."""
    if not isinstance(content, str):
        raise LlmError(f"the model's message content is {type(content).__name__}, not text")
    fenced = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", content, flags=re.DOTALL)
    if fenced:
        content = fenced.group(1)
    try:
        return answer_from_json(content)
    except ValidationError as exc:
        raise LlmError(f"the model's answer does not validate: {describe_validation_error(exc)}") from exc
    except ValueError as exc:
        raise LlmError(f"the model's answer is not one of the three shapes: {exc}") from exc

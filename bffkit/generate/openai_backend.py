"""`openai`: images from the OpenAI Images API through the official SDK.

The key comes only from ``OPENAI_API_KEY`` (never logged, never stored). Requests run with
bounded concurrency; the SDK retries connection errors, 408/409/429 and 5xx (honouring
``retry-after``), and on top of that rate limits get a bounded backoff of our own. A refusal
(400, e.g. content policy) fails that spec for good with its reason; persistent server
errors leave the spec pending, so the job ends ``partial`` and a rerun resumes it.

GPT-image models always answer base64; DALL·E models are asked for ``b64_json``. The API has
no negative prompt, so the spec's negative prompt is appended as an "Avoid:" sentence.
Model names change often: the model is a config value.
"""

from __future__ import annotations

import base64
import io
import os
import random
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from PIL import Image, UnidentifiedImageError

from ..backend_options import BASE_URL_RULE, is_http_url
from ..exceptions import ConfigError
from .base import ImageResult

# Prompt length limits per model family (characters).
PROMPT_LIMITS = {"dall-e-2": 1000, "dall-e-3": 4000}
DEFAULT_PROMPT_LIMIT = 32000


def make_client(timeout_s: float, max_retries: int, base_url: str | None):
    """An SDK client; fails before any work without a usable key, base URL or package."""
    key = os.environ.get("OPENAI_API_KEY")
    if key is None:
        raise ConfigError("OPENAI_API_KEY is not set: the openai backend reads its key from the environment only")
    # the message never shows any part of the key
    if not key.strip():
        raise ConfigError("OPENAI_API_KEY is set but empty: export the key itself, or unset it")
    if key != key.strip() or any(not ch.isprintable() for ch in key):
        raise ConfigError("OPENAI_API_KEY holds spaces, newlines or control characters: export the key alone")
    if base_url is None and os.environ.get("OPENAI_BASE_URL") is not None:
        base_url = os.environ["OPENAI_BASE_URL"]
        if not is_http_url(base_url):
            raise ConfigError(f"OPENAI_BASE_URL={base_url[:80]!r}: {BASE_URL_RULE}")
    try:
        import openai
    except ImportError:
        raise ConfigError("the openai backend needs the `openai` package: pip install 'bffkit[openai]'") from None
    return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=max_retries)


def error_message(err) -> str:
    """The API's own message, on one line, without echoing request data."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else None
        code = inner.get("code") if isinstance(inner, dict) else None
        if msg:
            return f"{msg} ({code})" if code else str(msg)
    return str(getattr(err, "message", err)).splitlines()[0]


class OpenAIGenerator:
    """The `openai` backend (gpt-image-1, dall-e-3, ...)."""

    name = "openai"

    def __init__(self, model: str = "gpt-image-1", size: str | None = None, quality: str = "high",
                 concurrency: int = 4, timeout_s: float = 120.0, max_retries: int = 2,
                 base_url: str | None = None, rate_limit_retries: int = 3, max_backoff_s: float = 20.0,
                 **_ignored):
        self.model = model
        self.size = size
        self.quality = quality
        self.concurrency = max(1, int(concurrency))
        self.rate_limit_retries = rate_limit_retries
        self.max_backoff_s = max_backoff_s
        self.client = make_client(timeout_s, max_retries, base_url)

    def generate(self, specs: Sequence) -> Iterator[ImageResult]:
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai")
        try:
            futures = [pool.submit(self._one, spec) for spec in specs]
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ one request
    def _request(self, spec) -> dict:
        prompt = spec.prompt
        if spec.negative_prompt:
            prompt = f"{prompt}. Avoid: {spec.negative_prompt}."
        limit = next((v for k, v in PROMPT_LIMITS.items() if self.model.startswith(k)), DEFAULT_PROMPT_LIMIT)
        params = {"model": self.model, "prompt": prompt[:limit], "n": 1,
                  "size": spec.params.get("size") or self.size or "1024x1024",
                  "quality": spec.params.get("quality") or self.quality}
        if self.model.startswith("dall-e"):
            params["response_format"] = "b64_json"
        return params

    def _backoff(self, err, attempt: int) -> float:
        headers = getattr(getattr(err, "response", None), "headers", None) or {}
        try:
            wait = float(headers.get("retry-after"))
        except (TypeError, ValueError):
            wait = min(self.max_backoff_s, 2.0 ** attempt) * (0.5 + random.random() / 2)
        return min(max(wait, 0.0), self.max_backoff_s)

    def _one(self, spec) -> ImageResult:
        import openai

        params = self._request(spec)
        for attempt in range(self.rate_limit_retries + 1):
            try:
                resp = self.client.images.generate(**params)
                break
            except openai.RateLimitError as err:
                if attempt == self.rate_limit_retries:
                    return ImageResult(spec.index, error=f"rate limited: {error_message(err)}", permanent=False)
                time.sleep(self._backoff(err, attempt))
            except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
                raise ConfigError(f"OPENAI_API_KEY was rejected ({err.status_code}): {error_message(err)}") from None
            except openai.NotFoundError as err:
                raise ConfigError(f"generate.openai.model={self.model!r}: {error_message(err)}") from None
            except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
                return ImageResult(spec.index, error=f"refused: {error_message(err)}", permanent=True)
            except openai.APIStatusError as err:
                return ImageResult(spec.index, error=f"server error {err.status_code}: {error_message(err)}",
                                   permanent=False)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                return ImageResult(spec.index, error=f"{type(err).__name__}: {error_message(err)}", permanent=False)

        item = resp.data[0] if resp.data else None
        if item is None or not item.b64_json:
            return ImageResult(spec.index, error="no image data in the response", permanent=True)
        try:
            image = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError) as err:
            return ImageResult(spec.index, error=f"undecodable image: {type(err).__name__}", permanent=True)
        meta = {"model": self.model, "attempts": attempt + 1, "size": params["size"], "quality": params["quality"]}
        if resp.usage is not None:
            meta["usage"] = resp.usage.model_dump(exclude_none=True)
        if getattr(item, "revised_prompt", None):
            meta["revised_prompt"] = item.revised_prompt
        return ImageResult(spec.index, image=image.convert("RGB"), metadata=meta)

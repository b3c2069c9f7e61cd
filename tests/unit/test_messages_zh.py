"""Chinese problem details (api/messages_zh.py) and the choice of language (api/i18n.py), without a server.

Every catalog entry carries a real sample; every literal message raised in the covered packages must be known
to the catalog, so a new English message there fails here until it has its Chinese.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from api import messages_zh
from api.i18n import preferred_language

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
# The errors of gis/errors.py (and two of their subclasses) whose details a client reads.
ERRORS = frozenset(
    {
        "InvalidInput",
        "NotFound",
        "Conflict",
        "Forbidden",
        "Unauthorized",
        "BadParameter",
        "PreconditionFailed",
        "PreconditionRequired",
        "FileRejected",
        "EditTimedOut",
    }
)
# What the catalog must cover: where people meet the messages (plans, incidents, sign-in, coordinates, visits,
# the map's layers and tiles, the API itself). Open311 answers in its spec's own format, in English.
COVERED = (
    "gis/plans",
    "gis/coverage",
    "gis/incidents",
    "gis/auth",
    "gis/geo",
    "gis/locate",
    "gis/basedata/visits.py",
    "gis/layers",
    "api",
)
NOT_COVERED = ("api/routers/open311.py",)
# A message that only passes another one on ("layout: {exc}"): nothing of its own to translate.
PASSED_ON = re.compile(r"([\w.-]+: )?7")
# Reported, not required (yet): file imports and the CLI speak to operators, OGC to GIS clients.
REPORTED = ("gis/basedata", "gis/exchange", "gis/ogc")


def _message(node: ast.expr) -> str | None:
    """A message as raised, each formatted part replaced by a stand-in value; None when not a literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.Constant) else "7" for v in node.values]
        return "".join(str(p) for p in parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _message(node.left), _message(node.right)
        return left + right if left is not None and right is not None else None
    return None


def raised_messages(*roots: str) -> list[tuple[str, str]]:
    """(file:line, message) of every domain error built with a literal message under `roots`."""
    found = []
    for root in roots:
        path = ROOT / root
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            relative = str(file.relative_to(ROOT))
            if relative in NOT_COVERED:
                continue
            for node in ast.walk(ast.parse(file.read_text())):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                message = _message(node.args[0]) if name in ERRORS else None
                if message is not None:
                    found.append((f"{relative}:{node.lineno}", message))
    return found


@pytest.mark.parametrize(
    ("english", "chinese", "sample"), messages_zh.CATALOG, ids=[e[2][:50] for e in messages_zh.CATALOG]
)
def test_every_pattern_translates_its_sample(english: str, chinese: str, sample: str) -> None:
    translated = messages_zh.translate(sample)
    assert translated is not None, sample
    assert CJK.search(translated), translated
    # Ids, codes and numbers of the English are all in the Chinese.
    for number in re.findall(r"\d+(?:\.\d+)?", sample):
        assert number in translated, (number, translated)


def test_every_covered_message_has_its_chinese() -> None:
    messages = raised_messages(*COVERED)
    assert len(messages) > 150  # the walk found the raise sites
    own = [(where, message) for where, message in messages if not PASSED_ON.fullmatch(message)]
    missing = [(where, message) for where, message in own if messages_zh.translate(message) is None]
    assert not missing, "\n".join(f"{where}: {message}" for where, message in missing)


def test_coverage_of_the_other_packages_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    messages = raised_messages(*REPORTED)
    known = sum(messages_zh.translate(message) is not None for _, message in messages)
    with capsys.disabled():
        print(f"\nChinese for {known} of {len(messages)} messages raised in {', '.join(REPORTED)}")
    assert messages


def test_unknown_details_stay_english() -> None:
    assert messages_zh.translate("layout: the part {street} is not a layout part") is None
    assert messages_zh.translate("something nobody wrote yet") is None


def test_domain_words_inside_messages_are_translated() -> None:
    translated = messages_zh.translate("cannot verify an incident that is in_progress; allowed now: return, resolve")
    assert translated == "事件当前状态为「处置中」，不能「核查通过」；现在可以：退回、反馈处置结果"
    # A field before the message is kept by its API name and named in Chinese.
    assert messages_zh.translate("visited_at: 2030-01-01T00:00:00 is in the future") == (
        "走访时间（visited_at）：2030-01-01T00:00:00 晚于当前时间"
    )


@pytest.mark.parametrize(
    ("status", "english", "chinese"),
    [
        (422, "Invalid input", "输入无效"),
        (404, "Not found", "未找到"),
        (409, "Conflict", "冲突"),
        (403, "Forbidden", "无权操作"),
        (401, "Unauthorized", "未登录或登录已失效"),
        (412, "Precondition failed", "版本已变化"),
        (429, "Too many requests", "请求过于频繁"),
        (413, "Content too large", "内容过大"),
        (418, "I'm a teapot", "请求出错"),  # unknown: still Chinese
    ],
)
def test_titles(status: int, english: str, chinese: str) -> None:
    assert messages_zh.title(status, english) == chinese


def test_field_labels() -> None:
    assert messages_zh.field_label("grids") == "网格"
    assert messages_zh.field_label("body.location.lon") == "经度"
    assert messages_zh.field_label("body.photos.0") == "照片"
    assert messages_zh.field_label("body") == "请求正文"
    assert messages_zh.field_label("colour") is None
    assert messages_zh.field_label(None) is None


@pytest.mark.parametrize(
    ("kind", "ctx", "chinese"),
    [
        ("missing", None, "必填"),
        ("int_parsing", None, "应为整数"),
        ("float_parsing", None, "应为数字"),
        ("string_too_long", {"max_length": 2000}, "最多 2000 个字符"),
        ("string_too_short", {"min_length": 1}, "至少 1 个字符"),
        ("too_long", {"max_length": 5, "actual_length": 6}, "最多 5 项"),
        ("greater_than_equal", {"ge": 1}, "应大于或等于 1"),
        ("less_than", {"lt": 90}, "应小于 90"),
        ("literal_error", {"expected": "'web' or 'phone'"}, "应为以下之一：'web' or 'phone'"),
        ("list_type", None, "应为列表"),
        ("model_attributes_type", None, "应为对象"),
        ("value_error", {"error": "the bearer token is not valid"}, "令牌无效"),
        ("value_error", {"error": "a new reason"}, "值无效：a new reason"),
    ],
)
def test_validation_messages(kind: str, ctx: dict[str, object] | None, chinese: str) -> None:
    assert messages_zh.validation_message(kind, ctx, "English") == chinese


def test_unknown_validation_type_keeps_the_english() -> None:
    assert messages_zh.validation_message("complex_type", None, "Input should be a valid complex") == (
        "Input should be a valid complex"
    )


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh-Hans", "zh"),
        ("zh-TW", "zh"),
        ("ZH-hant-HK", "zh"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("*", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-GB,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh;q=0.8", "zh"),  # the weight decides, not the order
        ("fr-FR, zh;q=0.3", "zh"),  # a language we do not speak is skipped
        ("fr", "en"),
        ("zh;q=0, en", "en"),  # q=0: "not this one"
        ("zh;q=abc", "en"),  # a malformed weight counts for nothing
        ("*;q=0.5, zh-CN", "zh"),
    ],
)
def test_preferred_language(header: str | None, language: str) -> None:
    assert preferred_language(header) == language

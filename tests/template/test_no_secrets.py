"""No secret-looking literal in what ships or gets copied around: template.yaml, the sample events,
samconfig.toml, README.md and docs/.

Bot secrets live in Secrets Manager or SSM Parameter Store (docs/secrets.md); bluegreen's stack holds
none. The scanner looks for well-known credential formats anywhere, and for keys named like a secret
(password, secret, token, api_key) holding a literal value: in the parsed YAML, JSON and TOML, and in
the fenced code blocks of Markdown. A reference (an ARN, an SSM path, a CloudFormation intrinsic or
dynamic reference, an environment variable) and an obvious placeholder are not literals.

The self-tests plant examples of every kind and check that the scanner reports each of them, so it
cannot pass by finding nothing. The planted values are assembled at run time, so that this file holds
no secret-looking literal itself.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

# The only fake values allowed as a secret's value: the credentials the moto docs tell you to use
# ("testing") and the ones the README gives for the local stack, which moto accepts ("test").
DOCUMENTED_FAKES = {"test", "testing"}

# Formats that are a credential wherever they appear.
PATTERNS = {
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "AWS secret access key": re.compile(
        r"(?i)(?:aws_?secret_?access_?key|secret_?access_?key|secret_?key|aws_?secret)[\"']?\s*[:=]\s*[\"']?"
        r"(?-i:[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
    ),
    "Telegram bot token": re.compile(r"(?<![0-9])[0-9]{8,10}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    "Slack token": re.compile(r"xox[abpr]-[A-Za-z0-9-]{10,}"),
    "GitHub token": re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
}

# A key named like a secret ...
SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key|private[_-]?key)")
# ... unless it names a reference to one (SecretId, BOT_TOKEN_SECRET_ARN, SecretName, token_ttl, ...).
REFERENCE_KEY = re.compile(
    r"(?i)(arn|name|id|ids|path|param|parameter|ref|uri|url|file|type|ttl|seconds|length|version|stage|env)$"
)
# key: value, key = value, "key": "value" in a line of code (Markdown fences). An unquoted value must
# end the line or be followed by a separator, so `token = client.get(...)` is not a literal.
KEY_VALUE = re.compile(
    r"""(?ix)
    (?P<key>[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key)[A-Za-z0-9_.-]*)
    ["']?\s*[:=]\s*
    (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s"',;(){}\[\]]+)(?=[\s,;}\]]|$))
    """
)
FENCE = re.compile(r"^\s*(```|~~~)\s*([A-Za-z0-9_+-]*)")
# Code fences where a bare `name: value` is not a literal (a type annotation, an expression).
CODE_LANGUAGES = {"python", "py", "python3", "pycon"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


def is_placeholder(value: str) -> bool:
    """Not a literal secret: empty, a reference, an obvious placeholder, or a documented fake."""
    v = value.strip()
    return (
        not v
        or v.lower() in DOCUMENTED_FAKES
        or (v.startswith("<") and v.endswith(">"))  # <your-bot-token>
        or v.startswith(("${", "$(", "{{resolve:", "arn:", "/"))  # variable, dynamic reference, ARN, SSM path
        or re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", v) is not None  # $BOT_TOKEN
        or re.fullmatch(r":[A-Za-z_][A-Za-z0-9_]*", v) is not None  # a DynamoDB expression value, `#token = :token`
        or re.fullmatch(r"[xX*.·•_-]+|\.\.\.|…", v) is not None  # xxxx, ****, ...
        or v.lower() in {"none", "null", "true", "false", "redacted", "changeme", "placeholder"}
    )


def is_secret_key(key: str) -> bool:
    return SECRET_KEY.search(key) is not None and REFERENCE_KEY.search(key) is None


def line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


def redact(value: str) -> str:
    return value[:4] + "…" if len(value) > 6 else "…"


def scan_patterns(path: str, text: str) -> Iterator[Finding]:
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            yield Finding(path, text.count("\n", 0, match.start()) + 1, kind, redact(match.group(0)))


def walk(node: Any, keys: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every (key path, string value) of a parsed document."""
    if isinstance(node, dict):
        # CloudFormation intrinsics (Ref, Fn::Sub, ...) are references, not literals.
        if len(node) == 1 and next(iter(node)).startswith(("Ref", "Fn::")):
            return
        for key, value in node.items():
            yield from walk(value, (*keys, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, keys)
    elif isinstance(node, str | int) and not isinstance(node, bool):
        yield keys, str(node)


def scan_document(path: str, text: str, document: Any) -> Iterator[Finding]:
    for keys, value in walk(document):
        if not keys or is_placeholder(value):
            continue
        # The value's own key, or a CloudFormation parameter named like a secret with a Default.
        named = keys[-1] if keys[-1] != "Default" or len(keys) < 2 else keys[-2]
        if is_secret_key(named):
            yield Finding(path, line_of(text, value), f"literal value of {'.'.join(keys)}", redact(value))


def scan_markdown(path: str, text: str) -> Iterator[Finding]:
    language: str | None = None  # None: prose
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            language = None if language is not None else fence.group(2).lower()
            continue
        if language is None:
            continue  # prose: only the credential formats (scan_patterns)
        for match in KEY_VALUE.finditer(line):
            value = match.group("dq") if match.group("dq") is not None else match.group("sq")
            if value is None:
                if language in CODE_LANGUAGES:
                    continue
                value = match.group("bare")
            if is_secret_key(match.group("key")) and not is_placeholder(value):
                yield Finding(path, number, f"literal value of {match.group('key')}", redact(value))


def parse(suffix: str, text: str) -> Any:
    if suffix in {".yaml", ".yml"}:
        from cfnlint.decode import cfn_yaml

        return json.loads(json.dumps(cfn_yaml.loads(text), default=str))
    if suffix == ".json":
        return json.loads(text)
    if suffix == ".toml":
        return tomllib.loads(text)
    return None


def scan(path: str, text: str) -> list[Finding]:
    suffix = Path(path).suffix.lower()
    findings = list(scan_patterns(path, text))
    if suffix in {".md", ".markdown"}:
        findings += scan_markdown(path, text)
    else:
        document = parse(suffix, text)
        if document is not None:
            findings += scan_document(path, text, document)
    return findings


def scanned_files() -> list[Path]:
    files = [ROOT / "template.yaml", ROOT / "samconfig.toml", ROOT / "README.md"]
    for folder in ("events", "docs"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return [p for p in files if p.is_file()]


# ---------------------------------------------------------------- the repository


@pytest.mark.parametrize("path", scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_secret_looking_literal(path: Path) -> None:
    findings = scan(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    assert not findings, "secret-looking literals (keep secrets in Secrets Manager / SSM, see docs/secrets.md):\n" + (
        "\n".join(map(str, findings))
    )


def test_the_scan_covers_the_template_samples_and_docs() -> None:
    scanned = {str(p.relative_to(ROOT)) for p in scanned_files()}
    assert {"template.yaml", "samconfig.toml", "README.md"} <= scanned
    assert any(p.startswith("events/") and p.endswith(".json") for p in scanned)
    # The structured files are walked as documents, not only searched as text.
    assert sum(1 for _ in walk(parse(".yaml", (ROOT / "template.yaml").read_text()))) > 100
    assert sum(1 for _ in walk(parse(".toml", (ROOT / "samconfig.toml").read_text()))) > 3


# ---------------------------------------------------------------- the scanner finds planted secrets

# Assembled at run time (see the module docstring). None of these is a real credential.
ALNUM = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
AWS_KEY_ID = "AK" + "IA" + "Z7" * 8
AWS_STS_KEY_ID = "AS" + "IA" + "Q4" * 8
AWS_SECRET = ("wJalr" + "XUtn" + "F/K7+") * 2 + "abcdefghijkl"  # 40 characters
TELEGRAM = "1234" + "56789" + ":" + "AA" + ALNUM[:31] + "_-"[:1] + "x"  # 9 digits, 35 characters
SLACK = "xo" + "xb-" + "1234567890-" + ALNUM[:24]
GITHUB_CLASSIC = "gh" + "p_" + ALNUM
GITHUB_FINE = "github" + "_pat_" + "11ABC" + ALNUM[:20] + "_" + ALNUM[:30]
PRIVATE_KEY = "-----BEGIN " + "RSA PRIVATE" + " KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----"
LITERAL = "hunter2-" + "correct-horse"

PLANTED = {
    "AWS access key id in YAML": ("planted.yaml", f"Value: {AWS_KEY_ID}\n", "AWS access key id"),
    "AWS STS key id in prose": ("planted.md", f"the key {AWS_STS_KEY_ID} was used\n", "AWS access key id"),
    "AWS secret key after its name": (
        "planted.md",
        f"```sh\nexport AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n```\n",
        "AWS secret access key",
    ),
    "AWS secret key in JSON": ("planted.json", json.dumps({"SecretAccessKey": AWS_SECRET}), "AWS secret access key"),
    "Telegram token in an environment variable": (
        "planted.yaml",
        f"Environment:\n  Variables:\n    BOT: '{TELEGRAM}'\n",
        "Telegram bot token",
    ),
    "Telegram token in prose": ("planted.md", f"curl https://api.telegram.org/bot{TELEGRAM}/getMe\n", "Telegram"),
    "Slack token": ("planted.json", json.dumps({"hook": SLACK}), "Slack token"),
    "GitHub classic token": ("planted.toml", f'auth = "{GITHUB_CLASSIC}"\n', "GitHub token"),
    "GitHub fine-grained token": ("planted.md", f"use {GITHUB_FINE}\n", "GitHub token"),
    "private key block": ("planted.md", PRIVATE_KEY, "private key"),
    "password in YAML": ("planted.yaml", f"Db:\n  Password: {LITERAL}\n", "literal value of Db.Password"),
    "token in CloudFormation environment": (
        "planted.yaml",
        f"Resources:\n  F:\n    Properties:\n      Environment:\n        Variables:\n          BOT_TOKEN: {LITERAL}\n",
        "BOT_TOKEN",
    ),
    "secret parameter default": (
        "planted.yaml",
        f"Parameters:\n  BotToken:\n    Type: String\n    NoEcho: true\n    Default: {LITERAL}\n",
        "literal value of Parameters.BotToken.Default",
    ),
    "api_key in a sample event": ("planted.json", json.dumps({"detail": {"api_key": LITERAL}}), "detail.api_key"),
    "secret in samconfig": ("planted.toml", f'[default.deploy.parameters]\nclient_secret = "{LITERAL}"\n', "secret"),
    "password in a Markdown YAML fence": ("planted.md", f"```yaml\npassword: {LITERAL}\n```\n", "password"),
    "quoted token in a Markdown Python fence": (
        "planted.md",
        f'```python\nbot_token = "{LITERAL}"\n```\n',
        "bot_token",
    ),
    "api key in a Markdown JSON fence": ("planted.md", f'```json\n{{"apiKey": "{LITERAL}"}}\n```\n', "apiKey"),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_the_scanner_reports_a_planted_secret(name: str) -> None:
    path, text, kind = PLANTED[name]
    findings = scan(path, text)
    assert any(kind in finding.kind for finding in findings), f"{name}: not reported ({findings})"
    # The report never repeats the secret.
    assert all(len(finding.excerpt) <= 5 for finding in findings)


def test_the_planted_formats_have_the_shapes_they_stand_for() -> None:
    assert len(AWS_SECRET) == 40
    assert re.fullmatch(r"[0-9]{9}:[A-Za-z0-9_-]{35}", TELEGRAM)
    assert len(AWS_KEY_ID) == len(AWS_STS_KEY_ID) == 20


REFERENCES = {
    "Secrets Manager dynamic reference": (
        "ok.yaml",
        "Variables:\n  BOT_TOKEN: '{{resolve:secretsmanager:mybot/telegram:SecretString:token}}'\n",
    ),
    "CloudFormation intrinsic": ("ok.yaml", "Variables:\n  BOT_TOKEN: !Ref BotTokenParameter\n"),
    "secret ARN": (
        "ok.yaml",
        "Variables:\n  BOT_TOKEN_SECRET_ARN: arn:aws:secretsmanager:us-east-1:123456789012:secret:mybot/telegram-AbCdEf\n",
    ),
    "secret name key": ("ok.json", json.dumps({"SecretId": "mybot/telegram", "TokenSecretName": "mybot/telegram"})),
    "SSM parameter path": ("ok.yaml", "token: /mybot/telegram-token\n"),
    "placeholder": ("ok.md", "```sh\nexport BOT_TOKEN=<your-bot-token>\n```\n"),
    "dynamodb expression value": ("ok.md", "```\nConditionExpression: #token = :token\n```\n"),
    "moto's documented fake": ("ok.md", "```sh\nexport AWS_SECRET_ACCESS_KEY=testing\n```\n"),
    "Python expression": (
        "ok.md",
        '```python\ntoken: str = client.get_secret_value(SecretId=os.environ["BOT_TOKEN_SECRET_ARN"])["SecretString"]\n```\n',
    ),
    "prose": ("ok.md", "The token: it never leaves Secrets Manager.\n"),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_references_and_placeholders_are_not_reported(name: str) -> None:
    path, text = REFERENCES[name]
    assert scan(path, text) == []

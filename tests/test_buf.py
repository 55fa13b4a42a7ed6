"""The proto as a contract any language builds: buf build, lint, breaking and the templates.

All offline: the googleapis import is vendored under protos/third_party, and
HOME points at an empty folder so no BSR cache can help. `make breaking`
checks the work tree against main; here a scratch git repository shows the
configured rules catch a breaking change and let an additive one through.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import node

ROOT = Path(__file__).resolve().parent.parent
BUF = Path(sys.executable).with_name("buf")
PROTO = Path("protos/whatsapp/errors/v1/error_catalog.proto")


def buf(
    *args: str, cwd: Path = ROOT, home: Path, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "BUF_CACHE_DIR": str(home / "buf-cache")}
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(BUF), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_build_and_lint_offline(tmp_path: Path) -> None:
    built = buf("build", "-o", str(tmp_path / "image.binpb"), home=tmp_path)
    assert built.returncode == 0, built.stderr
    linted = buf("lint", home=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    files = buf("ls-files", home=tmp_path).stdout.split()
    assert files == ["protos/third_party/google/rpc/status.proto", str(PROTO)]


def test_breaking_catches_a_removed_field_and_allows_an_added_one(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "protos", repo / "protos", ignore=shutil.ignore_patterns("*.py*"))
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    proto = repo / PROTO
    text = proto.read_text()
    proto.write_text(text + "\nmessage AddedLater {\n  // A new field.\n  string note = 1;\n}\n")
    additive = buf("breaking", "--against", ".git#branch=main", cwd=repo, home=tmp_path)
    assert additive.returncode == 0, additive.stdout + additive.stderr
    proto.write_text(text.replace("  string language_code = 1;\n", "", 1))
    removed = buf("breaking", "--against", ".git#branch=main", cwd=repo, home=tmp_path)
    assert removed.returncode != 0
    assert 'Previously present field "1" with name "language_code"' in removed.stdout


DUMP_PLUGIN = """#!{python}
import sys
from google.protobuf.compiler import plugin_pb2
request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
response = plugin_pb2.CodeGeneratorResponse(supported_features=1)
out = response.file.add(name="{name}.txt")
out.content = "".join(
    f"{{p.name}} {{p.options.go_package}}\\n" for p in request.proto_file
    if p.name in request.file_to_generate or p.name.startswith("google/rpc/")
)
sys.stdout.buffer.write(response.SerializeToString())
"""


def test_go_template_gives_our_file_a_go_package_and_keeps_googleapis(tmp_path: Path) -> None:
    """The Go template with its remote plugins swapped for a local one that reports options."""
    template = (ROOT / "buf.gen.go.yaml").read_text()
    for name, remote in (("go", "buf.build/protocolbuffers/go"), ("grpc", "buf.build/grpc/go")):
        plugin = tmp_path / f"protoc-gen-dump-{name}"
        plugin.write_text(DUMP_PLUGIN.format(python=sys.executable, name=name))
        plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
        line = next(line for line in template.splitlines() if remote in line)
        template = template.replace(line, f"  - local: {plugin}")
    (tmp_path / "buf.gen.yaml").write_text(template)
    out = tmp_path / "out"
    result = buf(
        "generate", "--template", str(tmp_path / "buf.gen.yaml"), "-o", str(out), home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    options = dict(line.split(" ", 1) for line in (out / "gen/go/go.txt").read_text().splitlines())
    assert options == {
        "google/rpc/status.proto": "google.golang.org/genproto/googleapis/rpc/status;status",
        str(PROTO.relative_to("protos")): "example.com/yourteam/gen/go/whatsapp/errors/v1;errorsv1",
    }


def test_typescript_template_generates_code_that_type_checks(tmp_path: Path) -> None:
    example = node.installed()
    bin_dir = example / "node_modules" / ".bin"
    out = tmp_path / "out"
    result = buf(
        "generate",
        "--template",
        "buf.gen.ts.yaml",
        "-o",
        str(out),
        home=tmp_path,
        path=str(bin_dir),
    )
    assert result.returncode == 0, result.stderr
    generated = out / "gen/ts/whatsapp/errors/v1/error_catalog_pb.ts"
    assert "export const ErrorCatalogService" in generated.read_text()
    assert (out / "gen/ts/google/rpc/status_pb.ts").exists()
    (out / "node_modules").symlink_to(example / "node_modules")
    tsc = [node.node(), str(bin_dir / "tsc"), "--noEmit", "--strict", "--skipLibCheck"]
    checked = subprocess.run(
        [*tsc, "--target", "es2022", "--module", "nodenext", str(generated)],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if checked.returncode != 0:
        pytest.fail(checked.stdout + checked.stderr)

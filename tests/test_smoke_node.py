"""The seed's exact curl call against a real gunicorn node."""
import json
import subprocess


def test_seed_curl_command_works(node):
    path = node.images_dir / "red.jpg"
    out = subprocess.run(
        ["curl", "-s", f"{node.url}/api/detect", "-d", f"input={path}&output=1"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    record = json.loads(out)
    assert record["detection_class_entities"][0] == "Person"
    assert (node.output_dir / "red.jpg").is_file()
    assert json.loads((node.output_dir / "red.jpg.json").read_text()) == record

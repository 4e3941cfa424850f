"""The Python `requests` flow of the reference documentation.

Usage: client.py API_URL SKILLS_DIR SKILL_ZIP
"""
import sys
import time

import requests

api, skills, archive = sys.argv[1:4]

response = requests.post(f"{api}/scan", json={"skill_directory": f"{skills}/bad"}, timeout=60)
response.raise_for_status()
result = response.json()
assert result["is_safe"] is False, result
for finding in result["findings"]:
    print(f"{finding['severity']}: {finding['title']}")

with open(archive, "rb") as handle:
    response = requests.post(
        f"{api}/scan-upload",
        files={"file": ("skill.zip", handle, "application/zip")},
        data={"policy": "strict"},
        timeout=60,
    )
response.raise_for_status()
assert response.json()["scan_metadata"]["policy_name"] == "strict"

response = requests.post(f"{api}/scan-batch", json={"skills_directory": skills}, timeout=60)
scan_id = response.json()["scan_id"]
while True:
    status = requests.get(f"{api}/scan-batch/{scan_id}", timeout=60).json()
    if status["status"] != "processing":
        break
    time.sleep(0.2)
assert status["status"] == "completed", status
print(status["result"]["summary"])

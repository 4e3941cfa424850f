#!/bin/sh
# The CI job of the reference documentation: curl and jq against the API.
# Usage: ci_job.sh API_URL SKILLS_DIR POLICY_FILE SKILL_ZIP
set -eu
api=$1 skills=$2 policy=$3 archive=$4

# Scan with the defaults, with a preset and with a policy file.
curl -sf -X POST "$api/scan" -H 'Content-Type: application/json' \
    -d "{\"skill_directory\": \"$skills/clean\"}" | jq -e '.is_safe == true' >/dev/null
curl -sf -X POST "$api/scan" -H 'Content-Type: application/json' \
    -d "{\"skill_directory\": \"$skills/bad\", \"policy\": \"strict\"}" | jq -e '.is_safe == false' >/dev/null
curl -sf -X POST "$api/scan" -H 'Content-Type: application/json' \
    -d "{\"skill_directory\": \"$skills/bad\", \"policy\": \"$policy\"}" | jq -e '.scan_metadata.policy_name == "custom"' >/dev/null

# Upload a zipped skill.
curl -sf -F "file=@$archive" "$api/scan-upload" | jq -e '.max_severity | type == "string"' >/dev/null

# Batch with polling; the job fails on critical findings.
id=$(curl -sf -X POST "$api/scan-batch" -H 'Content-Type: application/json' \
    -d "{\"skills_directory\": \"$skills\", \"recursive\": true}" | jq -r .scan_id)
while [ "$(curl -sf "$api/scan-batch/$id" | jq -r .status)" = processing ]; do sleep 0.2; done
critical=$(curl -sf "$api/scan-batch/$id" | jq '.result.summary.findings_by_severity.critical')
if [ "$critical" -gt 0 ]; then
    echo "critical findings: $critical"
fi

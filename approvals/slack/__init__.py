"""Approvals from Slack: pending actions posted with Approve / Reject buttons (SlackRoute),
clicks and the `/cwa` slash command verified, mapped to a CWA user and decided through the same
service as the web page. See README.md ("Slack approvals") for the setup."""

"""``graylib simulate``: replay synthetic payment traffic through a real client, on a simulated clock."""

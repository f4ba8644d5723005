"""Annual reports: reporting periods, the versioned report form, drafts, evidence, submissions, reminders."""

-- The task's message with its last progress report, so a list of jobs can show it beside
-- the progress bar without reading each job's log.
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS progress_message text;

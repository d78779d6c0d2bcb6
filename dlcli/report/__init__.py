"""The report page: one self-contained HTML file for a run or a comparison."""

"""Exchange with the systems clinics use: FHIR R4 and REDCap. Plain data in and out; no client library."""

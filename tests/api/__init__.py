"""Tests of the API client library (`custom_components.iammeter_cloud.api`)."""

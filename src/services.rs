//! services: endpoints and names grouped into the services a user sees.

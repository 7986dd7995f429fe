//! Devices: every device has a logical id; TAPI devices also a permanent line id that
//! the service maps onto it; virtual FSP devices exist only while their provider runs.

use std::collections::BTreeMap;

use faxsim_trace::{ExtId, SOURCE_FAX, SOURCE_TAPI};

/// One device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The logical (`DEV_ID_SRC_FAX`) id.
    pub logical: u32,
    /// The TAPI permanent line id, for TAPI devices.
    pub tapi: Option<u32>,
    /// The virtual FSP that created it (removed when that provider unloads).
    pub owner: Option<ExtId>,
}

/// How a device id passed by an extension resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The logical id it names (0 for global data).
    Logical(u32),
    /// A TAPI id that maps to no device.
    UnknownTapi,
    /// The source value is neither `DEV_ID_SRC_FAX` nor `DEV_ID_SRC_TAPI`.
    BadSource,
}

/// The devices of the simulated machine.
#[derive(Clone, Debug, Default)]
pub struct DeviceTable {
    by_logical: BTreeMap<u32, Device>,
}

impl DeviceTable {
    /// Adds a device; false if its logical id, or its TAPI id, is taken (or the id is 0).
    pub fn add(&mut self, device: Device) -> bool {
        if device.logical == 0 || self.by_logical.contains_key(&device.logical) {
            return false;
        }
        if let Some(t) = device.tapi
            && self.by_tapi(t).is_some()
        {
            return false;
        }
        self.by_logical.insert(device.logical, device);
        true
    }

    /// Removes a device.
    pub fn remove(&mut self, logical: u32) -> Option<Device> {
        self.by_logical.remove(&logical)
    }

    /// The device with this logical id.
    pub fn get(&self, logical: u32) -> Option<&Device> {
        self.by_logical.get(&logical)
    }

    fn by_tapi(&self, tapi: u32) -> Option<&Device> {
        self.by_logical.values().find(|d| d.tapi == Some(tapi))
    }

    /// Resolves an id in the caller's id space. Device 0 is global data whatever the
    /// source; any logical id is accepted (data may be stored for devices that do not
    /// exist yet); a TAPI id must map to a device.
    pub fn resolve(&self, device: u32, source: i32) -> Resolved {
        match source {
            _ if source != SOURCE_FAX && source != SOURCE_TAPI => Resolved::BadSource,
            _ if device == 0 => Resolved::Logical(0),
            SOURCE_FAX => Resolved::Logical(device),
            _ => match self.by_tapi(device) {
                Some(d) => Resolved::Logical(d.logical),
                None => Resolved::UnknownTapi,
            },
        }
    }

    /// The id of `logical` in the id space of `source` (what a registrant made with that
    /// source is told in ConfigChange).
    pub fn id_in_space(&self, logical: u32, source: i32) -> u32 {
        if logical == 0 || source != SOURCE_TAPI {
            return logical;
        }
        self.get(logical).and_then(|d| d.tapi).unwrap_or(logical)
    }

    /// Every device, by logical id.
    pub fn iter(&self) -> impl Iterator<Item = &Device> {
        self.by_logical.values()
    }

    /// Removes every device a provider created; returns them.
    pub fn remove_owned_by(&mut self, owner: ExtId) -> Vec<Device> {
        let gone: Vec<Device> = self
            .by_logical
            .values()
            .filter(|d| d.owner == Some(owner))
            .copied()
            .collect();
        for d in &gone {
            self.by_logical.remove(&d.logical);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_ids_by_source() {
        let mut t = DeviceTable::default();
        assert!(t.add(Device {
            logical: 5,
            tapi: Some(0x1234),
            owner: None
        }));
        assert!(!t.add(Device {
            logical: 6,
            tapi: Some(0x1234),
            owner: None
        }));
        assert_eq!(t.resolve(0x1234, SOURCE_TAPI), Resolved::Logical(5));
        assert_eq!(t.resolve(99, SOURCE_TAPI), Resolved::UnknownTapi);
        assert_eq!(t.resolve(99, SOURCE_FAX), Resolved::Logical(99));
        assert_eq!(t.resolve(0, SOURCE_TAPI), Resolved::Logical(0));
        assert_eq!(t.resolve(1, 7), Resolved::BadSource);
        assert_eq!(t.id_in_space(5, SOURCE_TAPI), 0x1234);
        assert_eq!(t.id_in_space(5, SOURCE_FAX), 5);
    }
}

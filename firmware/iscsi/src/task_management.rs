//! Task management requests (RFC 7143 §11.5) mapped onto the SCSI core's task management.

use crate::command::TaskTrack;
use crate::connection::Conn;
use crate::pdu::{tmf_function as function, tmf_response as response, TaskMgmtResponse};
use crate::wire::{OutData, OutPdu, StatSn};
use scsi::backend::BlockBackend;
use scsi::TmfOutcome;
use std::rc::Rc;

fn code(outcome: TmfOutcome) -> u8 {
    match outcome {
        TmfOutcome::FunctionComplete => response::FUNCTION_COMPLETE,
        TmfOutcome::FunctionSucceeded => response::FUNCTION_SUCCEEDED,
        TmfOutcome::TaskDoesNotExist => response::TASK_DOES_NOT_EXIST,
        TmfOutcome::LunDoesNotExist => response::LUN_DOES_NOT_EXIST,
    }
}

impl<B: BlockBackend + 'static> Conn<B> {
    pub(crate) async fn task_management(
        self: Rc<Self>,
        func: u8,
        lun: [u8; 8],
        itt: u32,
        referenced: u32,
    ) {
        let Some(nexus) = self.nexus else {
            return;
        };
        let device = self.device.clone();
        let result = match func {
            function::ABORT_TASK => {
                let gathering = matches!(
                    self.tasks.borrow().get(&referenced),
                    Some(TaskTrack::GatheringData(_))
                );
                if gathering {
                    // Not yet executing: dropping it takes it out of the task set.
                    self.tasks.borrow_mut().remove(&referenced);
                    response::FUNCTION_COMPLETE
                } else {
                    code(device.abort_task(nexus, lun, u64::from(referenced)).await)
                }
            }
            function::ABORT_TASK_SET => code(device.abort_task_set(nexus, lun).await),
            function::CLEAR_ACA => response::FUNCTION_COMPLETE,
            function::CLEAR_TASK_SET => code(device.clear_task_set(nexus, lun).await),
            function::LOGICAL_UNIT_RESET => code(device.lun_reset(nexus, lun).await),
            function::TARGET_WARM_RESET | function::TARGET_COLD_RESET => {
                code(device.target_reset(nexus).await)
            }
            function::TASK_REASSIGN => response::TASK_REASSIGNMENT_NOT_SUPPORTED,
            function::QUERY_TASK => {
                let gathering = self.tasks.borrow().contains_key(&referenced);
                if gathering {
                    response::FUNCTION_SUCCEEDED
                } else {
                    code(device.query_task(nexus, lun, u64::from(referenced)))
                }
            }
            function::QUERY_TASK_SET => code(device.query_task_set(nexus, lun)),
            function::I_T_NEXUS_RESET => code(device.i_t_nexus_reset(nexus).await),
            function::QUERY_ASYNC_EVENT => code(device.query_async_event(nexus, lun).0),
            _ => response::FUNCTION_REJECTED,
        };
        // Tasks the reset caught while their data was still arriving end before the response.
        self.end_aborted_writes();
        let header = TaskMgmtResponse {
            response: result,
            itt,
            statsn: 0,
            exp_cmdsn: 0,
            max_cmdsn: 0,
        }
        .encode();
        self.send(OutPdu::new(header, OutData::None, StatSn::Advance));
        if func == function::TARGET_COLD_RESET && result == response::FUNCTION_COMPLETE {
            if let Some(t) = &self.target {
                self.portal
                    .sessions
                    .stop_port(&t.access.name, self.portal.tag);
            }
        }
    }
}
